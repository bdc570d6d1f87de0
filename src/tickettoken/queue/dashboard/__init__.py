"""The queue dashboard: one HTML page with vanilla JavaScript, no build step."""
