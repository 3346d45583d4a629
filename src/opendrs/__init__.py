"""OpenDRS: a self-hosted Data Replication Service that speaks the cloud DRS REST API."""

__version__ = "0.1.0"
