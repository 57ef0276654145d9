//! Geodesy on `(lat, lon)` pairs in decimal degrees (WGS84): checking coordinates,
//! great-circle distance, bounding boxes, British National Grid to WGS84. Pure arithmetic,
//! no I/O and no allocation.

/// Decimal places kept for coordinates: 1e-7 degrees is about 1 cm, finer than any
/// source's precision, so rounding only removes float noise and makes output stable.
pub const COORDINATE_DECIMALS: i32 = 7;

/// Valid WGS84 `(lat, lon)`, rounded to [`COORDINATE_DECIMALS`] places. Rejected, with
/// the reason: non-finite values, |lat| > 90, |lon| > 180, and (0, 0) — "null island",
/// where a missing coordinate pair written as zeros lands.
pub fn coordinates(lat: f64, lon: f64) -> Result<(f64, f64), String> {
    if !lat.is_finite() || !lon.is_finite() {
        return Err(format!("coordinates not finite ({lat}, {lon})"));
    }
    if lat.abs() > 90.0 || lon.abs() > 180.0 {
        return Err(format!("coordinates out of range ({lat}, {lon})"));
    }
    let scale = 10f64.powi(COORDINATE_DECIMALS);
    let round = |v: f64| {
        let r = (v * scale).round() / scale;
        // -0.0 and 0.0 compare equal but print differently; keep the output stable.
        if r == 0.0 {
            0.0
        } else {
            r
        }
    };
    let (lat, lon) = (round(lat), round(lon));
    if lat == 0.0 && lon == 0.0 {
        return Err("coordinates (0, 0): null island, a missing location".to_string());
    }
    Ok((lat, lon))
}

/// Mean Earth radius in km (IUGG), used for haversine distances and bounding boxes.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km between two `(lat, lon)` points, by the haversine formula
/// on a sphere of [`EARTH_RADIUS_KM`] (error under 0.5 % against the ellipsoid).
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    // `min(1.0)` keeps rounding from pushing asin out of its domain for antipodal points.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The box `(south, west, north, east)` in degrees that contains every point within
/// `radius_km` of `(lat, lon)` (on the same sphere as [`haversine_km`]). Near the poles
/// the longitude span is capped at the whole circle.
pub fn bbox_around(lat: f64, lon: f64, radius_km: f64) -> (f64, f64, f64, f64) {
    let radius_km = radius_km.max(0.0);
    let dlat = (radius_km / EARTH_RADIUS_KM).to_degrees();
    // A degree of longitude shrinks with cos(lat); the floor keeps the division finite.
    let dlon = (dlat / lat.to_radians().cos().abs().max(1e-9)).min(180.0);
    (
        (lat - dlat).max(-90.0),
        lon - dlon,
        (lat + dlat).min(90.0),
        lon + dlon,
    )
}

/// Iterations allowed when solving for latitude (inverse Transverse Mercator) and when
/// converting cartesian coordinates back to latitude; each converges in well under 10.
const GEODESY_ITERATIONS_MAX: usize = 100;

/// Converts British National Grid (EPSG:27700) easting/northing in metres to WGS84
/// `(lat, lon)` in degrees.
///
/// Inverse Transverse Mercator on the Airy 1830 ellipsoid (Ordnance Survey, "A guide to
/// coordinate systems in Great Britain", annex C), giving OSGB36 latitude and longitude,
/// then a 7-parameter Helmert transformation from OSGB36 to WGS84 through cartesian
/// coordinates. The Helmert step is the OS's published approximation, good to a few
/// metres across Great Britain (OSTN15 would be exact to centimetres and needs a 15 MB
/// grid): ample for matching places.
pub fn bng_to_wgs84(easting: f64, northing: f64) -> (f64, f64) {
    let (lat, lon) = osgb36_from_grid(easting, northing);
    let xyz = to_cartesian(lat, lon, AIRY_1830);
    let xyz = helmert_osgb36_to_wgs84(xyz);
    from_cartesian(xyz, WGS84)
}

/// An ellipsoid's semi-major and semi-minor axes, metres.
#[derive(Clone, Copy)]
struct Ellipsoid {
    a: f64,
    b: f64,
}

const AIRY_1830: Ellipsoid = Ellipsoid {
    a: 6_377_563.396,
    b: 6_356_256.909,
};
const WGS84: Ellipsoid = Ellipsoid {
    a: 6_378_137.0,
    b: 6_356_752.314_245,
};

/// OSGB36 latitude and longitude in radians from National Grid easting/northing.
fn osgb36_from_grid(e: f64, n: f64) -> (f64, f64) {
    let Ellipsoid { a, b } = AIRY_1830;
    // National Grid projection constants: scale on the central meridian, true origin
    // (49°N, 2°W) and the false origin's offsets.
    let f0 = 0.999_601_271_7;
    let lat0 = 49f64.to_radians();
    let lon0 = (-2f64).to_radians();
    let (n0, e0) = (-100_000.0, 400_000.0);
    let e2 = 1.0 - (b * b) / (a * a);
    let nn = (a - b) / (a + b);
    let (n2, n3) = (nn * nn, nn * nn * nn);

    // Meridional arc from the true origin to `lat`.
    let meridian_arc = |lat: f64| {
        let (d, s) = (lat - lat0, lat + lat0);
        b * f0
            * ((1.0 + nn + 1.25 * n2 + 1.25 * n3) * d
                - (3.0 * nn + 3.0 * n2 + 21.0 / 8.0 * n3) * d.sin() * s.cos()
                + (15.0 / 8.0 * n2 + 15.0 / 8.0 * n3) * (2.0 * d).sin() * (2.0 * s).cos()
                - 35.0 / 24.0 * n3 * (3.0 * d).sin() * (3.0 * s).cos())
    };

    // Solve M(lat') = N - N0 by fixed-point iteration, to 0.01 mm.
    let mut lat = lat0 + (n - n0) / (a * f0);
    let mut m = meridian_arc(lat);
    for _ in 0..GEODESY_ITERATIONS_MAX {
        if (n - n0 - m).abs() < 1e-5 {
            break;
        }
        lat += (n - n0 - m) / (a * f0);
        m = meridian_arc(lat);
    }

    let (sin, cos, tan) = (lat.sin(), lat.cos(), lat.tan());
    let nu = a * f0 / (1.0 - e2 * sin * sin).sqrt();
    let rho = a * f0 * (1.0 - e2) / (1.0 - e2 * sin * sin).powf(1.5);
    let eta2 = nu / rho - 1.0;
    let (t2, t4, t6) = (tan * tan, tan.powi(4), tan.powi(6));
    let sec = 1.0 / cos;

    let vii = tan / (2.0 * rho * nu);
    let viii = tan / (24.0 * rho * nu.powi(3)) * (5.0 + 3.0 * t2 + eta2 - 9.0 * t2 * eta2);
    let ix = tan / (720.0 * rho * nu.powi(5)) * (61.0 + 90.0 * t2 + 45.0 * t4);
    let x = sec / nu;
    let xi = sec / (6.0 * nu.powi(3)) * (nu / rho + 2.0 * t2);
    let xii = sec / (120.0 * nu.powi(5)) * (5.0 + 28.0 * t2 + 24.0 * t4);
    let xiia = sec / (5040.0 * nu.powi(7)) * (61.0 + 662.0 * t2 + 1320.0 * t4 + 720.0 * t6);

    let de = e - e0;
    let lat = lat - vii * de.powi(2) + viii * de.powi(4) - ix * de.powi(6);
    let lon = lon0 + x * de - xi * de.powi(3) + xii * de.powi(5) - xiia * de.powi(7);
    (lat, lon)
}

/// Geodetic latitude/longitude (radians, height 0) to earth-centred cartesian metres.
fn to_cartesian(lat: f64, lon: f64, ell: Ellipsoid) -> (f64, f64, f64) {
    let e2 = 1.0 - (ell.b * ell.b) / (ell.a * ell.a);
    let nu = ell.a / (1.0 - e2 * lat.sin().powi(2)).sqrt();
    (
        nu * lat.cos() * lon.cos(),
        nu * lat.cos() * lon.sin(),
        nu * (1.0 - e2) * lat.sin(),
    )
}

/// The OS's 7-parameter Helmert transformation OSGB36 -> WGS84: the published
/// WGS84 -> OSGB36 parameters (tx -446.448 m, ty +125.157 m, tz -542.060 m,
/// s +20.4894 ppm, rx -0.1502", ry -0.2470", rz -0.8421") with their signs reversed.
fn helmert_osgb36_to_wgs84((x, y, z): (f64, f64, f64)) -> (f64, f64, f64) {
    let (tx, ty, tz) = (446.448, -125.157, 542.060);
    let s = -20.4894e-6;
    let arcsec = |v: f64| (v / 3600.0_f64).to_radians();
    let (rx, ry, rz) = (arcsec(0.1502), arcsec(0.2470), arcsec(0.8421));
    (
        tx + (1.0 + s) * x - rz * y + ry * z,
        ty + rz * x + (1.0 + s) * y - rx * z,
        tz - ry * x + rx * y + (1.0 + s) * z,
    )
}

/// Earth-centred cartesian metres to geodetic `(lat, lon)` in degrees on `ell`.
fn from_cartesian((x, y, z): (f64, f64, f64), ell: Ellipsoid) -> (f64, f64) {
    let e2 = 1.0 - (ell.b * ell.b) / (ell.a * ell.a);
    let p = (x * x + y * y).sqrt();
    let mut lat = z.atan2(p * (1.0 - e2));
    for _ in 0..GEODESY_ITERATIONS_MAX {
        let nu = ell.a / (1.0 - e2 * lat.sin().powi(2)).sqrt();
        let next = (z + e2 * nu * lat.sin()).atan2(p);
        let done = (next - lat).abs() < 1e-12;
        lat = next;
        if done {
            break;
        }
    }
    (lat.to_degrees(), y.atan2(x).to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The east end of Princes Street.
    const EDINBURGH: (f64, f64) = (55.9533, -3.1883);

    fn metres_apart(a: (f64, f64), b: (f64, f64)) -> f64 {
        haversine_km(a, b) * 1000.0
    }

    #[test]
    fn bng_rows_of_the_register_land_within_a_metre_of_its_own_lat_lon() {
        // The register's own lng/lat agree with this conversion to millimetres (it was
        // evidently made the same way), so 1 m is a safe bound, well inside the 10 m asked.
        // (row id, easting, northing, the register's lat, lng), from
        // shared/data/places/sportscotland/scotland-sports-facility.csv.
        let rows = [
            (
                "pub_spfp.1029 Powerleague Portobello",
                330210.0,
                674292.0,
                55.95655889562928,
                -3.1193233798286606,
            ),
            (
                "pub_spfat.1 Aberdeen Grammar School",
                393083.0,
                806235.0,
                57.14694866360744,
                -2.115947082786153,
            ),
            (
                "pub_spfat.112 Culloden Academy, Inverness",
                272251.0,
                846589.0,
                57.491458625923634,
                -4.132906765061269,
            ),
            (
                "pub_spfat.48 David Keswick Athletic Centre, Dumfries",
                298020.0,
                576787.0,
                55.07502709051787,
                -3.598763256129897,
            ),
            (
                "pub_spfat.191 Clickimin Leisure Complex, Lerwick",
                446620.0,
                1141276.0,
                60.15331705544166,
                -1.1621087305395488,
            ),
            (
                "pub_spfat.44 Lewis Sports Centre, Stornoway",
                142900.0,
                932900.0,
                58.209640157539724,
                -6.378635721893951,
            ),
        ];
        for (row, e, n, lat, lon) in rows {
            let got = bng_to_wgs84(e, n);
            let off = metres_apart(got, (lat, lon));
            assert!(
                off < 1.0,
                "{row}: got {got:?}, register says ({lat}, {lon}), {off:.1} m apart"
            );
        }
    }

    #[test]
    fn coordinates_are_checked_and_rounded() {
        let ok = |lat: f64, lon: f64| coordinates(lat, lon).ok();
        assert_eq!(
            ok(55.95655889562928, -3.1193233798286606),
            Some((55.9565589, -3.1193234))
        );
        assert_eq!(ok(90.0, 180.0), Some((90.0, 180.0)));
        assert_eq!(ok(-90.0, -180.0), Some((-90.0, -180.0)));
        assert_eq!(ok(0.0, 1.0), Some((0.0, 1.0)));
        assert_eq!(ok(-0.00000001, 1.0), Some((0.0, 1.0)));
        assert_eq!(ok(0.0, 0.0), None);
        assert_eq!(ok(90.0001, 0.0), None);
        assert_eq!(ok(0.0, -180.5), None);
        assert_eq!(ok(f64::NAN, 1.0), None);
        assert_eq!(ok(1.0, f64::INFINITY), None);
        assert_eq!(ok(330210.0, 674292.0), None);
        assert!(coordinates(0.0, 0.0).unwrap_err().contains("null island"));
    }

    #[test]
    fn haversine_matches_known_distances() {
        assert_eq!(haversine_km(EDINBURGH, EDINBURGH), 0.0);
        // One degree of latitude is 111.2 km on this sphere.
        let d = haversine_km((55.0, -3.0), (56.0, -3.0));
        assert!((d - 111.195).abs() < 0.01, "{d}");
        // Edinburgh to Glasgow city centres: about 67 km.
        let d = haversine_km(EDINBURGH, (55.8617, -4.2583));
        assert!((66.0..69.0).contains(&d), "{d}");
    }

    #[test]
    fn bbox_around_holds_the_circle_and_little_more() {
        let (s, w, n, e) = bbox_around(55.95, -3.11, 2.0);
        assert!(s < 55.95 && n > 55.95 && w < -3.11 && e > -3.11);
        // Each edge's midpoint is `radius` from the centre.
        for edge in [(s, -3.11), (n, -3.11), (55.95, w), (55.95, e)] {
            let d = haversine_km((55.95, -3.11), edge);
            assert!((d - 2.0).abs() < 0.01, "{edge:?}: {d}");
        }
        let (s, _, n, _) = bbox_around(55.95, -3.11, -1.0);
        assert_eq!((s, n), (55.95, 55.95), "a negative radius is an empty box");
    }
}
