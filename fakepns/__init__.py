"""Fake APNs / FCM servers and their credentials (HTTP/2 over TLS on 127.0.0.1): what the
server runs beside it in development (`make run` starts the simulator), and what the tests and
benchmarks push to.

Entry points: credentials.make_credentials, fake_apns.FakeApns, fake_fcm.FakeFcm,
server_config (an applications.ini pointing at them), and `python -m fakepns.simulator` for a
long-running local setup.
"""
