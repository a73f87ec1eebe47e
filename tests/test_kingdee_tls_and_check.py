"""TLS to K3Cloud is always verified (Kingdee's SDK turns verification off; the channel does
not), with a private CA for an on-premises server; and `run.py check` names a bad option of the
``kingdee`` channel by its key before anything connects."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dropship_kingdee import KingdeeClient, parse_options
from dropship_kingdee.errors import KingdeeUnavailable
from gateway.infra.clock import SystemClock
from tests.conftest import WriteConfig, base_config
from tests.harness import ROOT, Mosquitto
from tests.kingdee_fixtures import channel_options, simulator


def certificate_for_localhost(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA): (cert, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k3cloud.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "k3cloud.pem", directory / "k3cloud.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_is_verified_against_the_servers_ca(tmp_path: Path) -> None:
    cert, key = certificate_for_localhost(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with simulator(ssl_context=server_tls) as erp:
        erp.create_sales_order(customer="C", lines=[("TEA-001", 1, 1.0)])
        assert erp.url.startswith("https://")
        query = ("SAL_SaleOrder", ["FBillNo"], "FDocumentStatus = 'C'")

        trusting = parse_options(channel_options(erp, ca_file=str(cert)))
        async with KingdeeClient(trusting, SystemClock()) as client:
            assert await client.execute_bill_query(*query) == [["XSDD000001"]]

        # Without the CA the certificate is not trusted, and nothing is sent.
        async with KingdeeClient(parse_options(channel_options(erp)), SystemClock()) as client:
            with pytest.raises(KingdeeUnavailable, match="certificate verify failed"):
                await client.execute_bill_query(*query)
        assert erp.calls["ExecuteBillQuery"] == 1


def test_check_names_bad_kingdee_options_by_their_key(
    tmp_path: Path, broker: Mosquitto, write_config: WriteConfig
) -> None:
    options = {
        "url": "ftp://erp.example/k3cloud/",
        "acct_id": "6565a0b1c2d3e4",
        "user_name": "api",
        "app_id": "not-an-app-id",
        "app_secret": "secret",
        "timezone": "Mars/Olympus_Mons",
    }
    path = write_config(
        base_config(
            tmp_path, broker, channels=[{"id": "erp", "adapter": "kingdee", "options": options}]
        )
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(ln.startswith("channels[0].options.url: ") for ln in lines), lines
    assert any(
        ln.startswith("channels[0].options.app_id: expected '<client id>_") for ln in lines
    ), lines
    assert any(ln.startswith("channels[0].options.timezone: unknown time zone") for ln in lines), (
        lines
    )

    options["fields"] = {"sku": "F Material"}
    path = write_config(
        base_config(
            tmp_path, broker, channels=[{"id": "erp", "adapter": "kingdee", "options": options}]
        )
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "channels[0].options.fields.sku: " in result.stdout, result.stdout
