"""Tests of data rights: export, anonymisation, retention."""
