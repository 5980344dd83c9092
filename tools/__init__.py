"""Operator tools of rtc-pushserver that run outside the server (standard library only)."""
