"""Every service's models, imported so the metadata knows all tables."""

from nubo.compute import models as compute_models  # noqa: F401
from nubo.db.base import Base
from nubo.identity import models as identity_models  # noqa: F401
from nubo.image import models as image_models  # noqa: F401
from nubo.network import models as network_models  # noqa: F401
from nubo.placement import models as placement_models  # noqa: F401

metadata = Base.metadata
