//! Charts of the lab's tables, drawn with plotters as SVG and PNG.
//!
//! A [`Chart`] is a value: a title, axis labels, a size and one of five kinds of marks
//! ([`Marks`]): points with a Pareto front, signed bars, lines, a heatmap and overlaid
//! histograms. [`charts`] builds them from results, runs and qrels tables; this module draws
//! them. The same drawing code runs on plotters' SVG backend and on its RGB bitmap backend,
//! whose pixels are encoded as PNG by the `png` crate; [`Chart::save`] writes either format
//! (by extension) atomically.
//!
//! Text is laid out with `ab_glyph` from a TrueType font found on the machine (the font
//! `RAGPLAY_FONT` names, else DejaVu Sans, Liberation Sans, Arial or the first `.ttf` under
//! the system font folders), registered once; SVG output names the `sans-serif` family, so a
//! browser draws it with its own font.

pub mod charts;
mod draw;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

pub use charts::{heatmap, metric_at_k, pareto, score_histogram, wins};

/// Default size in pixels.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 500;

/// A pixel position: column, row.
pub type Pixel = (i32, i32);

/// A point of a scatter chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
    /// On the Pareto front (drawn in the front's colour, labelled, joined by a line).
    pub front: bool,
}

/// A named series of (x, y) pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<(f64, f64)>,
}

/// What a chart draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Marks {
    /// Points, the Pareto front marked.
    Scatter(Vec<Point>),
    /// One bar per item, positive ones in the first colour, negative ones in the second:
    /// (item label, value), drawn in the given order.
    Bars(Vec<(String, f64)>),
    /// Lines with a marker at each value.
    Lines(Vec<Series>),
    /// A grid of values: column labels, row labels, `values[row][column]`.
    Heatmap {
        columns: Vec<String>,
        rows: Vec<String>,
        values: Vec<Vec<Option<f64>>>,
    },
    /// Overlaid histograms over shared bins: bin edges and, per series, the share of its
    /// values in each bin.
    Histogram {
        edges: Vec<f64>,
        series: Vec<Series>,
    },
}

/// A chart: marks, title, axis labels and size.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub width: u32,
    pub height: u32,
    pub marks: Marks,
}

impl Chart {
    /// A chart of the default size.
    pub fn new(
        title: impl Into<String>,
        x: impl Into<String>,
        y: impl Into<String>,
        marks: Marks,
    ) -> Self {
        Chart {
            title: title.into(),
            x_label: x.into(),
            y_label: y.into(),
            width: WIDTH,
            height: HEIGHT,
            marks,
        }
    }

    /// The same chart at another size (each side from 200 to 4000 pixels).
    pub fn with_size(mut self, width: u32, height: u32) -> Result<Self> {
        for (name, v) in [("width", width), ("height", height)] {
            if !(200..=4000).contains(&v) {
                return Err(Error::config(name, format!("{v} pixels; use 200 to 4000")));
            }
        }
        self.width = width;
        self.height = height;
        Ok(self)
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> Result<String> {
        font()?;
        let mut out = String::new();
        {
            let backend =
                plotters::backend::SVGBackend::with_string(&mut out, (self.width, self.height));
            draw::draw(self, backend)?;
        }
        Ok(out)
    }

    /// The chart's RGB pixels (row-major, 3 bytes a pixel) and, for a scatter chart, each
    /// point's pixel position (in the order of [`Marks::Scatter`]).
    pub fn to_rgb(&self) -> Result<(Vec<u8>, Vec<Pixel>)> {
        font()?;
        let mut pixels = vec![0u8; self.width as usize * self.height as usize * 3];
        let at = {
            let backend = plotters::backend::BitMapBackend::with_buffer(
                &mut pixels,
                (self.width, self.height),
            );
            draw::draw(self, backend)?
        };
        Ok((pixels, at))
    }

    /// The chart as a PNG file's bytes.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let (pixels, _) = self.to_rgb()?;
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let png_error = |e: png::EncodingError| Error::Plot {
                message: format!("PNG encoding: {e}"),
            };
            let mut writer = encoder.write_header().map_err(png_error)?;
            writer.write_image_data(&pixels).map_err(png_error)?;
        }
        Ok(out)
    }

    /// Write the chart to `path` as SVG (`.svg`) or PNG (`.png`), atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let bytes = match ext.as_deref() {
            Some("svg") => self.to_svg()?.into_bytes(),
            Some("png") => self.to_png()?,
            _ => {
                return Err(Error::config(
                    "path",
                    format!("{}: use a .svg or .png file name", path.display()),
                ))
            }
        };
        crate::data::io::write_atomic(path, |w| w.write_all(&bytes))
    }

    /// evcxr shows the chart inline when a cell ends with it (or calls this).
    pub fn evcxr_display(&self) {
        match self.to_svg() {
            Ok(svg) => println!("EVCXR_BEGIN_CONTENT image/svg+xml\n{svg}\nEVCXR_END_CONTENT"),
            Err(e) => println!("{e}"),
        }
    }
}

/// Where TrueType fonts are looked for, in order.
const FONTS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The first `.ttf` file under `dir` (depth first, names in order).
fn first_ttf(dir: &Path, depth: usize) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth > 0 {
            if let Some(found) = first_ttf(&p, depth - 1) {
                return Some(found);
            }
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ttf")) {
            return Some(p);
        }
    }
    None
}

/// Find and register the font text is laid out with; the outcome is kept.
fn font() -> Result<()> {
    static FONT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let found = FONT.get_or_init(|| {
        let path = std::env::var_os("RAGPLAY_FONT")
            .map(PathBuf::from)
            .or_else(|| FONTS.iter().map(PathBuf::from).find(|p| p.is_file()))
            .or_else(|| first_ttf(Path::new("/usr/share/fonts"), 4))
            .ok_or_else(|| {
                "no TrueType font found to lay out chart text; install one (Debian: fonts-dejavu-core) or set RAGPLAY_FONT to a .ttf file".to_owned()
            })?;
        let bytes = std::fs::read(&path).map_err(|e| format!("font {}: {e}", path.display()))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
            .map_err(|_| format!("font {}: not a TrueType font", path.display()))?;
        Ok(path)
    });
    match found {
        Ok(_) => Ok(()),
        Err(message) => Err(Error::Plot {
            message: message.clone(),
        }),
    }
}
