//! Static files, compiled into the binary: the page's own script and style, the outline
//! the map draws over, and htmx and Leaflet as taken once from the npm registry (see
//! `assets/vendor/README.md`). Nothing is fetched from anywhere else, at run time or at
//! build time.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// One file: its path under `/assets/`, its type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/app.css"),
    },
    Asset {
        path: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/app.js"),
    },
    Asset {
        path: "outline.geojson",
        content_type: "application/geo+json",
        bytes: include_bytes!("assets/outline.geojson"),
    },
    Asset {
        path: "htmx-2.0.11/htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/vendor/htmx-2.0.11/htmx.min.js"),
    },
    Asset {
        path: "leaflet-1.9.4/leaflet.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/vendor/leaflet-1.9.4/leaflet.js"),
    },
    Asset {
        path: "leaflet-1.9.4/leaflet.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/vendor/leaflet-1.9.4/leaflet.css"),
    },
    Asset {
        path: "leaflet-1.9.4/images/layers.png",
        content_type: "image/png",
        bytes: include_bytes!("assets/vendor/leaflet-1.9.4/images/layers.png"),
    },
    Asset {
        path: "leaflet-1.9.4/images/layers-2x.png",
        content_type: "image/png",
        bytes: include_bytes!("assets/vendor/leaflet-1.9.4/images/layers-2x.png"),
    },
    Asset {
        path: "licenses/htmx.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("assets/vendor/htmx-2.0.11/LICENSE"),
    },
    Asset {
        path: "licenses/leaflet.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("assets/vendor/leaflet-1.9.4/LICENSE"),
    },
];

/// Every asset path, for tests.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// `GET /assets/{path}`. Vendored files carry their version in the path and may be cached
/// for a day; the page's own files are revalidated.
pub async fn serve(Path(path): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no asset {:?}", path.chars().take(100).collect::<String>()),
        )
        .into_response();
    };
    let cache = if asset.path.contains('/') {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, cache),
        ],
        asset.bytes,
    )
        .into_response()
}
