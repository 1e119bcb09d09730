"""`videoflow serve` end to end, in headless Chromium: upload a talk, watch the steps live, reload, see the results.

The page uploads through the jobs API's presigned multipart URLs to the local S3, the server
delivers the S3 event to the synthesized workflow, and the page follows the job over
server-sent events. Chromium and its driver are Debian's (`make tools` installs them); the
test is skipped only where no Chromium is installed.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from videoflow.sample import speech_clips

CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)
CHROMEDRIVER = shutil.which("chromedriver")
# Short clips (the planner's default minimum is 15 s) at a small size, in two aspects: the page is the point here.
ENVIRONMENT = {"PLAN_MIN_CLIP_S": "4", "RENDER_SHORT_SIDE": "540", "RENDER_ASPECTS": "9:16,1:1"}
JOB_TIMEOUT_S = 75
# VIDEOFLOW_SCREENSHOT=1 writes the README's picture of the job page from this run.
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "job-page.png"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (make tools installs Debian's chromium)"),
    pytest.mark.skipif(len(speech_clips()) < 2, reason="needs Debian's pocketsphinx-testdata (make tools)"),
]


def make_talk(path: Path) -> Path:
    """About 10 s of real read speech (LibriVox) over two visibly different scenes."""
    clips = speech_clips()[:2]
    inputs = [argument for clip in clips for argument in ("-i", str(clip))]
    graph = ("[0:v][1:v]concat=n=2:v=1:a=0[v];" + "".join(f"[{n + 2}:a]" for n in range(len(clips)))
             + f"concat=n={len(clips)}:v=0:a=1[a]")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=5",
         "-f", "lavfi", "-i", "smptebars=size=640x360:rate=25:duration=5.1", *inputs,
         "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", "10",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", str(path)],
        check=True, capture_output=True, timeout=120,
    )
    return path


@pytest.fixture
def server(tmp_path):
    """Function-scoped: the local account's environment goes over the test environment (tests/conftest.py)."""
    from videoflow.local.runner import LocalPipeline
    from videoflow.local.synth import synthesize
    from videoflow.serve import LocalServer

    outdir = synthesize()
    out = tmp_path / "served"
    lines: list[str] = []
    with LocalServer(out=out, port=0, echo=lines.append,
                     pipeline_factory=lambda: LocalPipeline(outdir, extra_environment=ENVIRONMENT)) as running:
        running.lines = lines
        yield running


@pytest.fixture(scope="module")
def browser():
    if CHROMEDRIVER is None:
        pytest.fail("Chromium is installed but its driver is not: install Debian's chromium-driver (make tools)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1800", "--autoplay-policy=no-user-gesture-required",
                     "--disable-background-networking", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def steps(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#steps > li')].map(li => li.dataset.step + ':' + li.dataset.status)")


def step_names(driver) -> list[str]:
    return [step.split(":")[0] for step in steps(driver)]


def is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(item in remaining for item in short)


def lane_items(driver) -> dict[str, list[float]]:
    """Each lane's item starts, by lane (an empty lane has none)."""
    return dict(driver.execute_script(
        "return [...document.querySelectorAll('#timeline .lane[data-lane]')].map(lane => [lane.dataset.lane,"
        " [...lane.querySelectorAll('button.lane-item')].map(b => Number(b.dataset.start))]);"))


def check_structure(browser, folder: Path, manifest: dict, proxy) -> None:
    """The steps fold away; the timeline has a lane per kind, as many items as the results hold, and each item seeks
    the proxy; the transcript marks the word being spoken."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    details = browser.find_element(By.ID, "steps-details")
    assert details.get_attribute("open") is None, "the steps stay open after the job is done"
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None and browser.find_element(By.ID, "steps").is_displayed()

    transcript = json.loads((folder / manifest["transcript"]).read_text())
    frames = json.loads((folder / manifest["frames_analysis"]).read_text())["frames"]
    lanes = lane_items(browser)
    assert list(lanes) == ["shots", "speakers", "chapters", "clips", "faces"]
    assert len(lanes["shots"]) == len(manifest["shots"]) >= 2
    assert len(lanes["chapters"]) == len(manifest["chapters"]) >= 1
    assert len(lanes["clips"]) == len(manifest["plan"]["clips"]) >= 1
    assert bool(lanes["speakers"]) == any(word.get("speaker") for word in transcript["words"])
    assert bool(lanes["faces"]) == any(frame["faces"] for frame in frames)
    assert lanes["shots"] == [shot["start_s"] for shot in manifest["shots"]]
    assert lanes["chapters"] == [chapter["start_s"] for chapter in manifest["chapters"]]
    assert browser.execute_script("return [...document.querySelectorAll('#timeline button.lane-item')]"
                                  ".every(b => b.getAttribute('aria-label') && b.tabIndex === 0)"), "an item unlabelled"

    # Clicking (and the keyboard) seeks the proxy to the item's start.
    second_shot = browser.find_elements(By.CSS_SELECTOR, "#timeline .lane[data-lane=shots] button.lane-item")[1]
    second_shot.click()
    start = manifest["shots"][1]["start_s"]
    wait_for(lambda: abs(browser.execute_script("return arguments[0].currentTime", proxy) - start) < 0.05, 5,
             f"the proxy to seek to the second shot at {start} s")
    chapter = browser.find_element(By.CSS_SELECTOR, "#timeline .lane[data-lane=chapters] button.lane-item")
    browser.execute_script("arguments[0].focus()", chapter)
    assert browser.switch_to.active_element == chapter
    chapter.send_keys(Keys.ENTER)
    wait_for(lambda: abs(browser.execute_script("return arguments[0].currentTime", proxy)
                         - manifest["chapters"][0]["start_s"]) < 0.05, 5, "Enter on a chapter to seek the proxy")

    # The spoken word: the one whose [start, end) holds the proxy's time.
    words = transcript["words"]
    word = words[len(words) // 2]
    browser.execute_script("arguments[0].currentTime = arguments[1]", proxy, (word["start_s"] + word["end_s"]) / 2)
    # Until the seek lands, the word marked is the one at the player's previous time: wait for this word.
    wait_for(lambda: [element for element in browser.find_elements(By.CSS_SELECTOR, "#transcript .word.spoken")
                      if float(element.get_attribute("data-start")) == word["start_s"]], 5,
             "the transcript to mark the spoken word")
    spoken = browser.find_elements(By.CSS_SELECTOR, "#transcript .word.spoken")
    assert len(spoken) == 1 and spoken[0].text == word["text"]
    if os.environ.get("VIDEOFLOW_SCREENSHOT"):
        browser.execute_script("document.getElementById('steps-details').open = false;"
                               "document.getElementById('job').scrollIntoView()")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))


def test_a_video_uploaded_on_the_page_is_followed_live_survives_a_reload_and_shows_its_results(
        server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    talk = make_talk(tmp_path / "board meeting.mp4")
    started = time.monotonic()
    browser.get(server.url)
    assert browser.find_element(By.TAG_NAME, "h1").text == "VideoFlow"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=file-input]").text  # the picker has a label

    # Upload: presigned parts to the local S3, then complete; the page moves to the job's URL.
    browser.find_element(By.ID, "file-input").send_keys(str(talk))
    wait_for(lambda: "job=" in browser.current_url, 30, "the upload to finish and the page to open the job")
    job_id = browser.current_url.split("job=", 1)[1]
    assert browser.find_element(By.ID, "upload-bar").get_attribute("value") == "100"

    # Steps appear live as they start and finish: reload once a few are there, while the job still runs.
    wait_for(lambda: "ValidateUpload" in step_names(browser) and len(steps(browser)) >= 5, 30,
             "the first steps to appear live")
    assert browser.execute_script("return document.body.dataset.stream") == "open", "the job ended too soon"
    assert any(step.endswith((":running", ":done")) for step in steps(browser))
    seen_before = step_names(browser)
    events_before = int(browser.find_element(By.ID, "event-log").get_attribute("data-last-seq"))
    assert step_names(browser)[:2] == ["StartPipeline", "ValidateUpload"]
    browser.refresh()

    # After the reload, the page replays the whole history from seq 0: every step seen before, in order.
    wait_for(lambda: is_subsequence(seen_before, step_names(browser)), 20, f"the history {seen_before} to be replayed")
    wait_for(lambda: int(browser.find_element(By.ID, "event-log").get_attribute("data-last-seq") or 0)
             >= events_before, 20, "the events seen before the reload")

    # When the job is done: the proxy plays in a <video>, with the transcript, shots, clips and cost.
    wait_for(lambda: browser.find_element(By.ID, "results").get_attribute("data-ready") == "true",
             JOB_TIMEOUT_S, "the job to complete and its results to show")
    after = step_names(browser)
    assert is_subsequence(seen_before, after)
    assert {"Derivatives", "Analysis", "PublishResults"} <= set(after), after
    assert len(after) > len(seen_before), "steps that ran after the reload were not added live"
    assert all(step.endswith(":done") for step in steps(browser)), steps(browser)
    log = browser.find_element(By.ID, "event-log")
    assert log.get_attribute("data-duplicates") is None and log.get_attribute("data-gaps") is None
    assert browser.find_element(By.ID, "job-status").text == "completed"

    proxy = browser.find_element(By.ID, "proxy-video")
    assert proxy.get_attribute("src").endswith(f"/results/{job_id}/proxy.mp4")
    wait_for(lambda: browser.execute_script("return arguments[0].readyState >= 1 && !arguments[0].error", proxy), 20,
             "the proxy's metadata to load in the player")
    assert browser.execute_script("return arguments[0].duration", proxy) == pytest.approx(10, abs=1.5)
    assert "Dashwood" in browser.find_element(By.ID, "transcript").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#shots tr")) >= 1
    assert browser.find_element(By.ID, "cost-total").text

    wait_for(lambda: any(line.startswith(f"job {job_id} COMPLETED") for line in server.lines), 10,
             "the server to say where the results are")
    manifest = json.loads((server.out / job_id / "manifest.json").read_text())
    assert manifest["clips"], "the talk gave no clip"
    first = manifest["clips"][0]
    clip = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#clips video.clip-video"), 5, "the clips")[0]
    assert clip.get_attribute("src").endswith(f"/results/{job_id}/{first['path']}")
    wait_for(lambda: browser.execute_script("return arguments[0].readyState >= 1 && !arguments[0].error", clip),
             20, "the clip's metadata to load")
    planned = manifest["plan"]["clips"][0]
    assert browser.find_element(By.CSS_SELECTOR, "#clips h4").text == planned["title"]
    # The planned clip's card holds its render in each aspect, labelled (clips.js).
    card = browser.find_element(By.CSS_SELECTOR, "#clips li.clip")
    assert [caption.text for caption in card.find_elements(By.CSS_SELECTOR, "figcaption.clip-aspect")] == [
        "9:16 · 540×960", "1:1 · 540×540"]
    assert planned["rationale"] in browser.find_element(By.CSS_SELECTOR, "#clips .rationale").text

    check_structure(browser, server.out / job_id, manifest, proxy)

    # The list of jobs shows this one, completed.
    item = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"#job-list li[data-job='{job_id}']"), 10,
                    "the job in the list of jobs")[0]
    assert item.find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status") == "COMPLETED"
    assert time.monotonic() - started < 90
