"""The deployment past one machine: its description, and what each engine says about it."""
