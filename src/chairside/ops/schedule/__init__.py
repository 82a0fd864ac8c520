"""The ops schedule: the runbooks' daily, weekly and monthly jobs, run by one leader."""
