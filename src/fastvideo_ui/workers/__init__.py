"""Worker processes: spawning, the wire protocol, and killing whole process trees."""
