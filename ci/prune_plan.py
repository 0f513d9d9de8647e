"""Which of this project's local build images to remove: all but the newest N per branch and image role."""

from dataclasses import dataclass
from itertools import groupby


@dataclass(frozen=True)
class LocalImage:
    image_id: str
    tags: tuple[str, ...]
    created: str  # RFC 3339 from the engine; sorts chronologically as text
    branch: str
    role: str


def images_to_prune(images: list[LocalImage], keep: int) -> list[LocalImage]:
    """Untagged images of the project (superseded builds) always go; tagged ones beyond the newest keep."""
    def group(image: LocalImage) -> tuple[str, str]:
        return image.branch, image.role

    doomed = [image for image in images if not image.tags]
    tagged = [image for image in images if image.tags]
    for _, members in groupby(sorted(tagged, key=group), key=group):
        newest_first = sorted(members, key=lambda image: image.created, reverse=True)
        doomed += newest_first[keep:]
    return doomed
