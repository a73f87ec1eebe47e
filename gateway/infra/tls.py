"""TLS contexts for the API (HTTPS) and the MQTT connection (mqtts://), from config (issue 9)."""

from __future__ import annotations

import ssl

from gateway.infra.config import HttpSection, MqttSection


def server_context(http: HttpSection) -> ssl.SSLContext | None:
    """HTTPS for the API when a certificate is configured; None means plain HTTP."""
    if not http.tls_cert_file or not http.tls_key_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(http.tls_cert_file, http.tls_key_file)
    return context


def mqtt_client_context(mqtt: MqttSection) -> ssl.SSLContext:
    """Verifies the broker against `tls_ca_file` (or the system's CAs), host name included;
    presents a client certificate when one is configured."""
    context = ssl.create_default_context(cafile=mqtt.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if mqtt.tls_cert_file and mqtt.tls_key_file:
        context.load_cert_chain(mqtt.tls_cert_file, mqtt.tls_key_file)
    return context
