"""The ops timeline: every backup, restore, validation, deploy and incident step, recorded
in a store that is *not* the application database, so a restore never rewinds it."""
