"""Fake APNs / FCM servers and test credentials (HTTP/2 over TLS on 127.0.0.1).

Entry points: credentials.make_credentials, fake_apns.FakeApns, fake_fcm.FakeFcm,
and `python -m tests.servers.simulator` for a long-running local setup.
"""
