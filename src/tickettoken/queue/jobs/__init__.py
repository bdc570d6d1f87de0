"""Jobs: create (one or a batch of up to 100), read, retry, cancel."""
