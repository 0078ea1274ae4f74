"""Pages: server-rendered HTML for people; parses input, calls services, renders."""
