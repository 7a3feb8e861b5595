"""Model weights in the Hugging Face cache: what is there, fetching ahead of a
job (in a child process, with progress), and removing them."""
