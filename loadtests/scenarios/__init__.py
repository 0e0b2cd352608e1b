"""One locustfile per scenario; `mixed` combines the personas of the others."""
