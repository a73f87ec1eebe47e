"""Transport security (issue 9): HTTPS for the API when a certificate is configured, and the MQTT
feed through a Mosquitto listener that requires TLS and a password. The certificates are made
by the test (trustme: a private CA, a server certificate for 127.0.0.1)."""

from __future__ import annotations

import asyncio
import getpass
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
import trustme

from gateway.infra.config import ConfigError, load_config
from tests.conftest import WriteConfig, base_config, start_gateway
from tests.harness import LineWatcher, Mosquitto, mosquitto_binary, order_json

MQTT_USER = "gateway"
MQTT_PASSWORD = "s3cret-broker-password"
ADMIN_TOKEN = "admin-token-for-tls-0123"


class Certificates:
    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = directory / "ca.pem"
        self.cert_file = directory / "server.pem"
        self.key_file = directory / "server.key"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        for index, blob in enumerate(server.cert_chain_pems):
            blob.write_to_path(str(self.cert_file), append=index > 0)
        server.private_key_pem.write_to_path(str(self.key_file))
        self.key_file.chmod(0o600)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    directory = tmp_path / "certs"
    directory.mkdir()
    return Certificates(directory)


class SecureMosquitto(Mosquitto):
    """Mosquitto with one listener that takes only TLS and only a known user with a password."""

    def __init__(self, workdir: Path, certs: Certificates) -> None:
        super().__init__(workdir)
        self.certs = certs

    def start(self) -> None:
        passwords = self.workdir / "passwd"
        subprocess.run(
            ["mosquitto_passwd", "-b", "-c", str(passwords), MQTT_USER, MQTT_PASSWORD],
            check=True,
            capture_output=True,
        )
        passwords.chmod(0o600)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            # As root, Mosquitto would switch to the user `mosquitto`, who cannot read tmp_path.
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"cafile {self.certs.ca_file}\ncertfile {self.certs.cert_file}\n"
            f"keyfile {self.certs.key_file}\ntls_version tlsv1.2\n"
            f"allow_anonymous false\npassword_file {passwords}\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            "log_type information\n"
        )
        self._process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._watcher = LineWatcher(self._process.stdout, self.workdir / "mosquitto.log")
        self._watcher.wait_for(lambda line: "running" in line, timeout=10)


@pytest.fixture
def secure_broker(tmp_path: Path, certs: Certificates) -> Iterator[SecureMosquitto]:
    workdir = tmp_path / "secure-mosquitto"
    workdir.mkdir()
    broker = SecureMosquitto(workdir, certs)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# -- HTTPS ---------------------------------------------------------------------------------------


@pytest.fixture
async def https_gateway(
    tmp_path: Path, broker: Mosquitto, certs: Certificates, write_config: WriteConfig
) -> AsyncIterator[Any]:
    config = base_config(
        tmp_path,
        broker,
        http={
            "host": "127.0.0.1",
            "port": 0,
            "tls_cert_file": str(certs.cert_file),
            "tls_key_file": str(certs.key_file),
        },
        auth={"tokens": [{"name": "root", "role": "admin", "token": ADMIN_TOKEN}]},
    )
    gateway = await start_gateway(write_config(config))
    try:
        yield gateway
    finally:
        await gateway.stop()


async def test_the_api_speaks_https_when_a_certificate_is_configured(
    https_gateway: Any, certs: Certificates
) -> None:
    url: str = https_gateway.http_url
    assert url.startswith("https://127.0.0.1:")
    trusted = aiohttp.TCPConnector(ssl=certs.client_context())
    async with aiohttp.ClientSession(
        connector=trusted, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as client:
        async with client.get(f"{url}/healthz") as response:
            assert response.status == 200
        async with client.post(f"{url}/api/v1/session", json={"token": ADMIN_TOKEN}) as response:
            assert response.status == 200
            assert response.cookies["dgw_session"]["secure"]  # never sent over plain HTTP
        async with client.get(f"{url}/api/v1/audit") as response:
            assert response.status == 200

    async with aiohttp.ClientSession() as untrusting:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with untrusting.get(f"{url}/healthz"):
                pass
        plain = url.replace("https://", "http://")
        with pytest.raises(aiohttp.ClientError):  # no answer in clear text
            async with untrusting.get(f"{plain}/healthz") as response:
                await response.read()


def test_tls_settings_are_checked(tmp_path: Path, certs: Certificates) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[http]\ntls_cert_file = "' + str(certs.cert_file) + '"\n'
        '[mqtt]\nurl = "mqtts://127.0.0.1:8883"\ntls_ca_file = "/nonexistent/ca.pem"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    messages = {p.key_path(): p.message for p in caught.value.problems}
    assert messages == {
        "http.tls_key_file": "tls_cert_file and tls_key_file go together",
        "mqtt.tls_ca_file": "no such file: /nonexistent/ca.pem",
    }


# -- MQTT over TLS with a password -------------------------------------------------------------


async def test_the_feed_goes_through_a_broker_that_requires_tls_and_a_password(
    tmp_path: Path,
    secure_broker: SecureMosquitto,
    certs: Certificates,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tls = certs.client_context()
    # The listener really refuses a client without the password, and one without TLS.
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", secure_broker.port, tls_context=tls, timeout=5):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", secure_broker.port, username=MQTT_USER, password=MQTT_PASSWORD, timeout=5
        ):
            pass

    monkeypatch.setenv("TEST_MQTT_PASSWORD", MQTT_PASSWORD)
    config = base_config(
        tmp_path,
        secure_broker,
        mqtt={
            "url": f"mqtts://127.0.0.1:{secure_broker.port}",
            "username": MQTT_USER,
            "password": "env:TEST_MQTT_PASSWORD",
            "tls_ca_file": str(certs.ca_file),
        },
    )
    async with aiomqtt.Client(
        "127.0.0.1",
        secure_broker.port,
        username=MQTT_USER,
        password=MQTT_PASSWORD,
        tls_context=tls,
        identifier="test-subscriber",
        timeout=10,
    ) as subscriber:
        await subscriber.subscribe("dropship/#", qos=1)
        gateway = await start_gateway(write_config(config))
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{gateway.http_url}/api/v1/orders", json=order_json("SO-TLS", [("SKU-1", 1)])
                ) as response,
            ):
                assert response.status == 202
                order_id = (await response.json())["accepted"][0]["order_id"]
            seen: dict[str, Any] = {}
            async with asyncio.timeout(20):
                async for message in subscriber.messages:
                    assert isinstance(message.payload, bytes)
                    seen[str(message.topic)] = json.loads(message.payload)
                    if f"dropship/orders/{order_id}/status" in seen and (
                        seen.get("dropship/gateway/status") == "online"
                    ):
                        break
        finally:
            await gateway.stop()
    assert seen[f"dropship/orders/{order_id}/status"]["external_id"] == "SO-TLS"
