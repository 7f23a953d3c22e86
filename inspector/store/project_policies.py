"""`Project`'s augmentation policies, named presets, fit settings, thresholds and review decisions.

The methods run inside `Project`'s one change / back up / save / undo transaction
(`_changing`, `_lock`, `_check_writable`, `_class`); they live here so project.py keeps to
the transaction, classes and images.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from inspector.store import policy_presets
from inspector.store.atomic import json_default
from inspector.store.names import check_choice
from inspector.store.records import REVIEW_DECISIONS, PartClass
from inspector.store.schema import POLICIES_DIR, policy_text
from inspector.types import InspectorError


class PolicyMethods:
    """Mixed into `Project` (see the module docstring)."""

    # -- policies, settings, review -----------------------------------------------------------
    def policy_path(self, part: PartClass) -> Path:
        return self.root / POLICIES_DIR / f"{part.folder}.json"

    def save_policy(self, class_name: str, policy_json: Optional[dict]) -> None:
        """Store the class's augmentation policy (None removes it)."""
        if policy_json is not None and not isinstance(policy_json, dict):
            raise InspectorError("An augmentation policy must be a JSON object.")
        with self._changing():
            part = self._class(class_name)
            part.policy = None if policy_json is None else json.loads(policy_text(policy_json))

    def set_aug_factor(self, class_name: str, factor: int) -> None:
        """Copies per training image for the next fit, shown with the policy (0: the policy is unused)."""
        if isinstance(factor, bool) or int(factor) != factor or int(factor) < 0:
            raise InspectorError(f"The augmentation factor must be a whole number >= 0, got {factor!r}.")
        with self._changing():
            part = self._class(class_name)
            part.aug_factor = int(factor)
            if part.fit_settings is not None:
                part.fit_settings = {**part.fit_settings, "aug_factor": int(factor)}

    def policy_presets(self) -> dict[str, dict]:
        """The project's named custom presets (name -> policy JSON); damaged files go to `problems`."""
        found: list[str] = []
        presets = policy_presets.list_presets(self.root / POLICIES_DIR / policy_presets.PRESETS_SUBDIR, found)
        self.problems.extend(p for p in found if p not in self.problems)
        return presets

    def save_policy_preset(self, name: str, policy_json: dict) -> dict:
        with self._lock:
            self._check_writable()
            return policy_presets.save_preset(self.root / POLICIES_DIR / policy_presets.PRESETS_SUBDIR, name,
                                              policy_json)

    def delete_policy_preset(self, name: str) -> None:
        with self._lock:
            self._check_writable()
            policy_presets.delete_preset(self.root / POLICIES_DIR / policy_presets.PRESETS_SUBDIR, name)

    def set_fit_settings(self, class_name: str, settings: Optional[dict], aug_factor: Optional[int] = None) -> None:
        with self._changing():
            part = self._class(class_name)
            part.fit_settings = None if settings is None else json.loads(json.dumps(settings, default=json_default))
            if aug_factor is not None:
                if int(aug_factor) < 0:
                    raise InspectorError("The augmentation factor cannot be negative.")
                part.aug_factor = int(aug_factor)

    def set_thresholds(self, class_name: str, fail: Optional[float] = None, review: Optional[float] = None) -> None:
        """Operator overrides of the model's thresholds (None: use the model's own)."""
        if fail is not None and review is not None and review > fail:
            raise InspectorError(f"The review threshold ({review:g}) must not be above the fail threshold ({fail:g}).")
        with self._changing():
            part = self._class(class_name)
            part.fail_threshold = None if fail is None else float(fail)
            part.review_threshold = None if review is None else float(review)

    def set_review_decisions(self, class_name: str, decisions: dict[str, str]) -> None:
        """Replace the SROC review decisions of a class: image id -> 'keep' | 'remove'."""
        with self._changing():
            part = self._class(class_name)
            known = {r.id for r in part.images}
            clean: dict[str, str] = {}
            for image_id, decision in decisions.items():
                check_choice(decision, REVIEW_DECISIONS, "review decision")
                if image_id not in known:
                    raise InspectorError(f"Class '{class_name}' has no image with id {image_id}.")
                clean[str(image_id)] = decision
            part.review_decisions = clean
