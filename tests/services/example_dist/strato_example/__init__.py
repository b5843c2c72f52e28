"""An example optional service, installed only by the tests that prove the seam."""
