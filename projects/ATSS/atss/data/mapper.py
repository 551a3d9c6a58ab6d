"""A dataset mapper whose image read errors name the image file and its dataset."""

from typing import Callable, Iterable, Union

__all__ = ["ImageErrorNamingMapper"]


class ImageErrorNamingMapper:
    """
    Wrap a dataset mapper (e.g. detectron2's ``DatasetMapper``) so that an image that cannot be
    opened or decoded (PIL's bare ``OSError: image file is truncated``, ``cannot identify image
    file``) raises an OSError naming the file and the dataset, in training and evaluation alike.
    """

    def __init__(self, mapper: Callable[[dict], dict], dataset_names: Union[str, Iterable[str]]):
        self.mapper = mapper
        names = [dataset_names] if isinstance(dataset_names, str) else list(dataset_names)
        self.dataset_names = ", ".join(names)

    def __call__(self, dataset_dict: dict) -> dict:
        try:
            return self.mapper(dataset_dict)
        except OSError as e:
            raise OSError(
                f"Cannot read image {dataset_dict.get('file_name')} of dataset "
                f"{self.dataset_names}: {e}"
            ) from e

    def __repr__(self) -> str:
        return f"ImageErrorNamingMapper({self.mapper!r}, dataset_names={self.dataset_names!r})"
