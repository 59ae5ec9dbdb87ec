//! The dashboard as a technician's browser shows it: Debian's Chromium, headless, started inside the lab
//! namespace and driven over the DevTools protocol (`headless_chrome`). A page is read as rendered, not
//! as HTML: its text is `innerText` (what the style sheet shows, with line breaks where blocks end, so
//! two sentences run together on screen run together here too), and each `<progress>` bar is read as
//! the fraction the browser draws. A screenshot of each page is kept beside the lab for a person.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use rackhand_netns::Netns;
use serde::Deserialize;

/// Debian's `chromium` package.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// One page as the browser rendered it.
#[derive(Debug, Clone, Deserialize)]
pub struct RenderedPage {
    pub url: String,
    pub title: String,
    /// The body's `innerText`.
    pub text: String,
    /// Each progress bar's drawn fraction (`HTMLProgressElement.position`, 0 to 1).
    pub progress: Vec<f64>,
    /// Whether the page is as wide as the window (no sideways scrolling on a laptop).
    pub fits_width: bool,
}

impl RenderedPage {
    /// The rendered line that contains `needle`, to assert on a whole line as a person reads it.
    pub fn line_with(&self, needle: &str) -> Option<&str> {
        self.text.lines().find(|line| line.contains(needle))
    }

    /// `lines` rendered lines from the one that contains `needle` on: a table row whose first cell breaks
    /// its line (a name, then its MACs) reads over several.
    pub fn lines_from(&self, needle: &str, lines: usize) -> Option<String> {
        let start = self.text.find(needle)?;
        let line_start = self.text[..start].rfind('\n').map_or(0, |at| at + 1);
        Some(self.text[line_start..].lines().take(lines).collect::<Vec<_>>().join("\n"))
    }
}

/// What the page says about itself, as JSON (the DevTools protocol returns primitives by value).
const READ_PAGE: &str = "JSON.stringify({
    url: location.href,
    title: document.title,
    text: document.body.innerText,
    progress: Array.from(document.querySelectorAll('progress')).map(p => p.position),
    fits_width: document.documentElement.scrollWidth <= window.innerWidth,
})";

/// Load each of `urls` in one headless Chromium inside `ns`, read them as rendered, and keep a
/// screenshot of each as `<shots>/<n>.png`.
pub fn render(ns: &Netns, urls: &[String], shots: &Path) -> anyhow::Result<Vec<RenderedPage>> {
    anyhow::ensure!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: install Debian's `chromium` package");
    std::fs::create_dir_all(shots)?;
    let (urls, shots) = (urls.to_vec(), shots.to_owned());
    // The browser, its DevTools socket and this side of it all live in the namespace: nothing leaves it.
    let inside =
        ns.spawn_inside(move || in_browser(&urls, &shots).map_err(|e| std::io::Error::other(format!("{e:#}"))))?;
    inside.join().map_err(|_| anyhow::anyhow!("the browser thread panicked"))?.map_err(anyhow::Error::from)
}

fn in_browser(urls: &[String], shots: &Path) -> anyhow::Result<Vec<RenderedPage>> {
    let profile = tempdir(shots)?;
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(CHROMIUM)))
        // Root in a namespace: Chromium's own sandbox needs user namespaces it cannot have here.
        .sandbox(false)
        .window_size(Some((1280, 900)))
        .user_data_dir(Some(profile.clone()))
        .idle_browser_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| anyhow::anyhow!("browser options: {e}"))?;
    let browser = Browser::new(options).context("starting headless Chromium")?;
    let tab = browser.new_tab().context("opening a tab")?;
    let mut pages = Vec::new();
    for (n, url) in urls.iter().enumerate() {
        pages.push(read(&tab, url, &shots.join(format!("{n}.png"))).with_context(|| format!("reading {url}"))?);
    }
    drop(browser);
    let _ = std::fs::remove_dir_all(profile);
    Ok(pages)
}

fn read(tab: &Arc<Tab>, url: &str, shot: &Path) -> anyhow::Result<RenderedPage> {
    tab.navigate_to(url)?.wait_until_navigated()?;
    let value = tab.evaluate(READ_PAGE, false)?.value.context("the page answered nothing")?;
    let json = value.as_str().context("the page's answer is not text")?;
    let page: RenderedPage = serde_json::from_str(json).context("the page's answer")?;
    let png = tab.capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)?;
    std::fs::write(shot, png)?;
    Ok(page)
}

/// A fresh browser profile beside the screenshots, so no state carries over from another run.
fn tempdir(beside: &Path) -> anyhow::Result<PathBuf> {
    let dir = beside.join(format!("chromium-profile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
