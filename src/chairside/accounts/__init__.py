"""Accounts: users and roles, password hashing, JWT access/refresh tokens, revocation."""
