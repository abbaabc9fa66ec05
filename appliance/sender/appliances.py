"""The appliances a sender delivers to: `NAME.pub` (HPKE public key) and `NAME.url`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from appliance.core.base.fsutil import atomic_write
from appliance.core.crypto import keys
from appliance.core.intake.registry import KeyFolder, RegistryError

URL_SUFFIX = ".url"


@dataclass(frozen=True)
class Appliance:
    name: str
    url: str
    public_key: keys.AppliancePublicKey

    @property
    def snapshots_url(self) -> str:
        return self.url.rstrip("/") + "/api/v1/snapshots"


class ApplianceFolder:
    def __init__(self, folder: Path) -> None:
        self.keys = KeyFolder(folder)

    def add(self, name: str, url: str, public_pem: bytes) -> Appliance:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistryError(f"URL {url!r} must look like http://HOST:PORT")
        public_key = keys.parse_appliance_public_pem(public_pem, "public key file")
        self.keys.add(name, public_pem)
        atomic_write(self.keys.folder / f"{name}{URL_SUFFIX}", (url + "\n").encode())
        return Appliance(name, url, public_key)

    def remove(self, name: str) -> None:
        self.keys.remove(name)

    def get(self, name: str) -> Appliance:
        pem = self.keys.read(name)
        url_path = self.keys.folder / f"{name}{URL_SUFFIX}"
        try:
            url = url_path.read_text().strip()
        except FileNotFoundError as exc:
            raise RegistryError(f"{url_path} is missing: re-add appliance {name!r}") from exc
        return Appliance(name, url, keys.parse_appliance_public_pem(pem, str(url_path)))

    def all(self) -> list[Appliance]:
        return [self.get(name) for name in self.keys.names()]
