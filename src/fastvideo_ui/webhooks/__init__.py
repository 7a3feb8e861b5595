"""Job events posted to a URL: signed, retried, recorded, and never to this machine
or its link-local neighbours unless the server allows it."""
