"""Static HTML dashboard over load-test reports and benchmark history (`make dashboard`)."""
