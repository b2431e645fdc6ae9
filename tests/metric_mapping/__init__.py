"""Tests of the receiver's metric mapping stage."""
