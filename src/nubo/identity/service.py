"""The Identity service facade: one object holding the database, the keys and the
managers of each resource group. No HTTP in here.

Every write bumps ``generation``; cached token validations older than the
current generation are re-checked, so a revocation takes effect at once in this
process (other processes re-check within ``token_cache_seconds``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from nubo.config import Config
from nubo.db.engine import Database
from nubo.identity.assignments import Assignments
from nubo.identity.auth import Auth
from nubo.identity.catalog import Catalog
from nubo.identity.credentials import Credentials
from nubo.identity.extensions import Extensions
from nubo.identity.limits import Limits
from nubo.identity.passwords import PasswordChecker, hash_password
from nubo.identity.resources import Resources
from nubo.identity.revocations import Revocations
from nubo.identity.tokens import KeyRepository, TokenFormatter
from nubo.identity.trusts import Trusts
from nubo.identity.users import Users


class Identity:
    """Entry point of the identity service layer."""

    def __init__(self, config: Config, db: Database) -> None:

        self.config = config
        self.db = db
        self.keys = KeyRepository(
            Path(config.data_dir) / "identity" / "fernet-keys", config.identity.max_active_keys
        )
        self.credential_keys = KeyRepository(
            Path(config.data_dir) / "identity" / "credential-keys", config.identity.max_active_keys
        )
        self.formatter = TokenFormatter(self.keys)
        self.passwords = PasswordChecker(
            config.identity.password_cache_size, config.identity.password_hash_rounds
        )
        self._generation = 0
        self._lock = threading.Lock()
        self.resources = Resources(self)
        self.users = Users(self)
        self.assignments = Assignments(self)
        self.catalog = Catalog(self)
        self.revocations = Revocations(self)
        self.credentials = Credentials(self)
        self.limits = Limits(self)
        self.trusts = Trusts(self)
        self.extensions = Extensions(self)
        self.auth = Auth(self)

    @property
    def generation(self) -> int:
        return self._generation

    def changed(self) -> None:
        """Note an identity write: cached token validations must be re-checked."""
        with self._lock:
            self._generation += 1

    def hash_password(self, password: str) -> str:
        return hash_password(password, self.config.identity.password_hash_rounds)

    def setup_keys(self) -> None:
        self.keys.setup()
        self.credential_keys.setup()
