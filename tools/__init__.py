"""Developer tools that are neither the app nor the lab: documentation generators."""
