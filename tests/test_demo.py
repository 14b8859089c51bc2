"""The browser demo end to end: a real headless Chromium uploads a photo and reads the rendered result."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import cv2
import pytest
from conftest import FAST, compose_config

from fer_lightning.errors import ConfigError
from fer_lightning.train import train

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# FER_DEMO_SCREENSHOT=<path> also saves the page there (the README's docs/images/demo.png)
SCREENSHOT = os.environ.get("FER_DEMO_SCREENSHOT")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    cfg = compose_config("train", [*FAST, "data.n_train=256", "data.n_val=64", "test=false"], root / "run")
    train(cfg)
    return next((root / "run" / "checkpoints").glob("epoch*.ckpt"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_cfg(ckpt, tmp_path, *overrides):
    return compose_config(
        "demo", [f"ckpt_path={ckpt}", f"port={free_port()}", "block=false", *overrides], tmp_path
    )


def test_demo_refuses_other_hosts_without_allow_remote(ckpt, tmp_path):
    from fer_lightning.demo import serve

    with pytest.raises(
        ConfigError, match="host=0.0.0.0: the demo serves on 127.0.0.1 only unless allow_remote"
    ):
        serve(demo_cfg(ckpt, tmp_path, "host=0.0.0.0"))


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does it)",
)
def test_upload_in_a_headless_browser_shows_each_face_with_its_expression(ckpt, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from skimage import data

    from fer_lightning.build import load_classifier
    from fer_lightning.demo import serve

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cfg = demo_cfg(ckpt, tmp_path)
    demo = serve(cfg)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1250"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"http://127.0.0.1:{cfg.port}/")
        upload = WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.CSS_SELECTOR, "#photo input[type=file]")
        )
        upload.send_keys(str(photo))

        def summary(d):
            text = d.find_element(By.CSS_SELECTOR, "#summary textarea").get_attribute("value")
            return text if text.startswith("face 1:") else None

        text = WebDriverWait(driver, 120).until(summary)
        class_names = load_classifier(str(ckpt))[0].class_names
        assert text.count("face ") == 1  # the astronaut's one face
        label = text.removeprefix("face 1: ").split(" (")[0]
        assert label in class_names
        assert all(name in text for name in class_names)  # every class's probability is listed
        probs = driver.find_element(By.CSS_SELECTOR, "#probs").text
        assert label in probs
        assert driver.find_element(By.CSS_SELECTOR, "#faces img").get_attribute("src")  # the boxed photo
        driver.save_screenshot(str(tmp_path / "demo.png"))
        if SCREENSHOT:
            driver.save_screenshot(SCREENSHOT)
        assert Path(tmp_path / "demo.png").stat().st_size > 0
    finally:
        driver.quit()
        demo.close()
