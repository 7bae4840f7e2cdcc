//! The page and its assets, compiled into the binary: no build step, no network, and the
//! page works offline.

/// `(content type, bytes)` of an asset by its file name.
pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "index.html" => ("text/html; charset=utf-8", include_bytes!("../../assets/dashboard/index.html")),
        "app.js" => ("text/javascript; charset=utf-8", include_bytes!("../../assets/dashboard/app.js")),
        "review.js" => ("text/javascript; charset=utf-8", include_bytes!("../../assets/dashboard/review.js")),
        "style.css" => ("text/css; charset=utf-8", include_bytes!("../../assets/dashboard/style.css")),
        _ => return None,
    })
}
