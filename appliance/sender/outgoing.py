"""Turn export files into sealed envelopes, one per recipient appliance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from appliance.core.config.settings import DEFAULT_KINDS, SenderConfig
from appliance.core.crypto import keys, seal
from appliance.sender.sequence import next_sequence


@dataclass(frozen=True)
class Sender:
    config: SenderConfig
    key: ed25519.Ed25519PrivateKey

    @classmethod
    def load(cls, config: SenderConfig) -> Sender:
        path = config.private_key_path
        return cls(config, keys.parse_sender_private_pem(keys.read_key_file(path), str(path)))

    def seal_for(self, documents: list[seal.Document], recipient: keys.AppliancePublicKey,
                 now: datetime | None = None) -> bytes:
        now = now or datetime.now(UTC)
        seq = next_sequence(self.config.state_dir / "sequence", now)
        return seal.seal(documents, self.key, recipient, seq, now)

    def seal_notice(self, notice: seal.PlannedOutageNotice,
                    recipient: keys.AppliancePublicKey, now: datetime | None = None) -> bytes:
        """A planned outage's announcement (or cancellation) for `recipient`."""
        now = now or datetime.now(UTC)
        seq = next_sequence(self.config.state_dir / "sequence", now)
        return seal.seal_notice(notice, self.key, recipient, seq, now)


def documents_from_files(
    files: list[Path], kind: str, unit: str, title: str | None, produced_at: datetime | None
) -> list[seal.Document]:
    """Read export files into documents. Without `produced_at`, a file's modification time
    stands for when the record system wrote it."""
    documents = []
    for path in files:
        content = Path(path).read_bytes()
        produced = produced_at or datetime.fromtimestamp(Path(path).stat().st_mtime, UTC)
        entry = seal.describe_document(
            kind, unit, title or DEFAULT_KINDS.get(kind, {}).get("title", kind), produced,
            content,
        )
        documents.append(seal.Document(entry, content))
    return documents
