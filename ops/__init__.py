"""Process management outside Django: the embedded servers and the serving runner."""
