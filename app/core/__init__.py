"""The shared core: small building blocks every app may import. It imports no app itself."""
