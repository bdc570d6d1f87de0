"""API calls and data volume per venue, provider and month (``integration_costs``) and per hour
(``integration_api_usage``), counted from the provider clients' real HTTP attempts by a batched
call observer (``meter.UsageMeter``)."""
