"""Data rights: a client's data export, anonymisation, and retention of inactive clients."""
