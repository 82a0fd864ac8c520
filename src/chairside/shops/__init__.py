"""Shops: location, time zone, policy; providers, services, weekly hours, time off."""
