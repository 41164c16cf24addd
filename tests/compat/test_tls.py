"""TLS of mlbox's own (http.tls_cert_file / http.tls_key_file) with the
real MLflow client trusting a test CA through REQUESTS_CA_BUNDLE, and a
certificate swapped under SIGHUP while a client keeps logging: no request
fails, and new connections get the new certificate."""
import datetime
import ipaddress
import os
import signal
import socket
import ssl
import threading
import time

import pytest

from conftest import TARGET, unique
from mlboxproc import MlboxProcess

pytestmark = pytest.mark.skipif(TARGET != "mlbox", reason="starts its own server")


def _ca():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlbox compat CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _issue(ca, serial, cert_path, key_path):
    """A server certificate for 127.0.0.1 signed by ca, written in place
    (key first, then the certificate, each replaced atomically)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                         x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    for path, data in ((key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())),
                       (cert_path, cert.public_bytes(serialization.Encoding.PEM))):
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)


def _served_serial(port, ca_file):
    from cryptography import x509

    ctx = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return x509.load_der_x509_certificate(s.getpeercert(binary_form=True)).serial_number


def test_client_over_tls_and_a_certificate_swap(tmp_path, monkeypatch):
    import mlflow
    from cryptography.hazmat.primitives import serialization
    from mlflow import MlflowClient

    ca = _ca()
    ca_file = str(tmp_path / "ca.pem")
    with open(ca_file, "wb") as f:
        f.write(ca[0].public_bytes(serialization.Encoding.PEM))
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    _issue(ca, 2, cert, key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    env = {"MLBOX_HTTP_TLS_CERT_FILE": cert, "MLBOX_HTTP_TLS_KEY_FILE": key}
    prev = mlflow.get_tracking_uri()
    with MlboxProcess(env=env, ca_file=ca_file) as m:
        try:
            assert m.url.startswith("https://")
            assert _served_serial(m.port, ca_file) == 2
            mlflow.set_tracking_uri(m.url)
            mlflow.set_experiment(unique("tls"))
            with mlflow.start_run() as run:
                mlflow.log_param("over", "tls")
                f = tmp_path / "notes.txt"
                f.write_text("encrypted")
                mlflow.log_artifact(str(f))
            c = MlflowClient(tracking_uri=m.url)
            assert [a.path for a in c.list_artifacts(run.info.run_id)] == ["notes.txt"]

            # A client keeps logging while the certificate is swapped.
            errors, logged = [], [0]
            stop = threading.Event()

            def keep_logging():
                step = 0
                while not stop.is_set():
                    try:
                        c.log_metric(run.info.run_id, "during-swap", step, step=step)
                        logged[0] += 1
                    except Exception as e:  # noqa: BLE001  (any failure is the finding)
                        errors.append(repr(e))
                    step += 1

            t = threading.Thread(target=keep_logging)
            t.start()
            try:
                time.sleep(0.5)
                _issue(ca, 3, cert, key)
                m.proc.send_signal(signal.SIGHUP)
                deadline = time.time() + 10
                while _served_serial(m.port, ca_file) != 3:
                    assert time.time() < deadline, "the new certificate is not served"
                    time.sleep(0.05)
                # A broken file: the reload fails, the new certificate stays.
                with open(cert, "w") as f:
                    f.write("not a certificate")
                m.proc.send_signal(signal.SIGHUP)
                time.sleep(0.5)
                assert _served_serial(m.port, ca_file) == 3
                time.sleep(0.5)
            finally:
                stop.set()
                t.join()
            assert errors == [] and logged[0] > 10, (errors[:3], logged[0])
            hist = c.get_metric_history(run.info.run_id, "during-swap")
            assert len(hist) == logged[0]
            assert m.proc.poll() is None, "SIGHUP stopped the server"
            log = m.log()
            assert "TLS certificate reloaded" in log and "TLS certificate not reloaded" in log
        finally:
            mlflow.set_tracking_uri(prev)


def test_plain_http_stays_the_default():
    with MlboxProcess() as m:
        assert m.url.startswith("http://")
        m.proc.send_signal(signal.SIGHUP)  # nothing to reload: logged, not fatal
        time.sleep(0.3)
        assert m.proc.poll() is None
        assert "nothing to reload" in m.log()
