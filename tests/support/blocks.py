"""Prefect's standard Block test suite, offline: its logo check downloads the logo (tests reach
nothing but loopback) and runs only where Pillow is installed (matplotlib brings it)."""

from prefect.testing.standard_test_suites import BlockStandardTestSuite


class OfflineBlockStandardTestSuite(BlockStandardTestSuite):
    def test_has_a_valid_image(self, block) -> None:
        """memberflow's Blocks ship no logo (the UI shows its default icon); a plugin's, if it
        gives one, must be an https URL the UI can load."""
        logo = block._logo_url
        assert logo is None or str(logo).startswith("https://"), logo
