"""Django's PostgreSQL backend, failing fast while the server is known to be down (base.py)."""
