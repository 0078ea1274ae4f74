"""The REST API (Django Ninja): parses input, calls services, answers JSON."""
