//! A small sample collection written for ragplay's demo and fast tests: 16 short documents
//! about everyday science, 6 queries and graded judgements (2 = answers the query, 1 = on topic).
//! It is tiny on purpose: large enough to show differences between retrieval methods, small
//! enough to read whole.

use polars::prelude::*;

use super::beir::Beir;
use super::schema::{self, DOC_ID, QUERY_ID, RELEVANCE, TEXT, TITLE};
use crate::error::Result;

const DOCS: &[(&str, &str, &str)] = &[
    ("d01", "Why the sky is blue", "Sunlight is scattered by the molecules of the air. Short blue wavelengths scatter far more than red ones (Rayleigh scattering), so the sky looks blue during the day."),
    ("d02", "Red sunsets", "At sunset light crosses much more air. Most blue light is scattered away before it reaches the eye, leaving the reds and oranges of the evening sky."),
    ("d03", "How rainbows form", "A rainbow appears when sunlight is refracted, reflected and dispersed inside raindrops. Each colour leaves the drop at a slightly different angle."),
    ("d04", "Boiling point and altitude", "Water boils at a lower temperature on a mountain because air pressure is lower. At 3000 metres water boils near 90 degrees Celsius, so pasta cooks more slowly."),
    ("d05", "Why ice floats", "Ice is less dense than liquid water: hydrogen bonds hold the molecules of ice in an open crystal lattice. That is why lakes freeze from the top down."),
    ("d06", "Salt on icy roads", "Salt lowers the freezing point of water. Spread on roads, it melts ice at temperatures a few degrees below zero."),
    ("d07", "Pressure cookers", "A pressure cooker raises the pressure inside the pot, so water boils above 100 degrees Celsius and food cooks faster."),
    ("d08", "Bread rising", "Yeast ferments the sugars in dough and releases carbon dioxide. The gas is trapped by gluten, and the bread rises."),
    ("d09", "Coffee extraction", "Hot water dissolves flavour compounds from ground coffee. Finer grounds and hotter water extract faster; too much extraction tastes bitter."),
    ("d10", "Why onions make you cry", "Cutting an onion releases enzymes that produce a volatile sulfur compound. It reaches the eyes and triggers tears."),
    ("d11", "Tides", "The Moon's gravity pulls on the oceans, raising a bulge of water on the side facing it and on the opposite side. The Earth turns under the bulges, giving two high tides a day."),
    ("d12", "Phases of the Moon", "The Moon shines by reflected sunlight. As it orbits the Earth we see a changing part of its lit half: new moon, crescent, quarter, gibbous and full moon."),
    ("d13", "Seasons", "Seasons come from the tilt of the Earth's axis, not from its distance to the Sun. The hemisphere tilted toward the Sun gets longer days and steeper sunlight."),
    ("d14", "Thunder and lightning", "Lightning heats the air so fast that it expands explosively; the shock wave is thunder. Light travels faster than sound, so we see the flash first."),
    ("d15", "Static electricity", "Rubbing a balloon on hair moves electrons from one to the other. The charged balloon then sticks to a wall."),
    ("d16", "Microwave ovens", "Microwaves make water molecules in food rotate and collide, which heats the food from within the outer layers."),
];

const QUERIES: &[(&str, &str)] = &[
    ("q1", "why is the sky blue during the day"),
    (
        "q2",
        "why does water boil at a lower temperature in the mountains",
    ),
    ("q3", "what causes ocean tides"),
    ("q4", "why does ice float on water"),
    ("q5", "why do sunsets look red"),
    ("q6", "how does pressure change cooking time"),
];

const QRELS: &[(&str, &str, i32)] = &[
    ("q1", "d01", 2),
    ("q1", "d02", 1),
    ("q1", "d03", 1),
    ("q2", "d04", 2),
    ("q2", "d07", 1),
    ("q3", "d11", 2),
    ("q3", "d12", 1),
    ("q4", "d05", 2),
    ("q4", "d06", 1),
    ("q5", "d02", 2),
    ("q5", "d01", 1),
    ("q6", "d07", 2),
    ("q6", "d04", 2),
];

/// The sample collection as corpus, queries and qrels tables.
pub fn sample() -> Result<Beir> {
    let corpus = schema::frame(vec![
        Column::new(DOC_ID.into(), DOCS.iter().map(|d| d.0).collect::<Vec<_>>()),
        Column::new(TITLE.into(), DOCS.iter().map(|d| d.1).collect::<Vec<_>>()),
        Column::new(TEXT.into(), DOCS.iter().map(|d| d.2).collect::<Vec<_>>()),
    ])?;
    let queries = schema::frame(vec![
        Column::new(
            QUERY_ID.into(),
            QUERIES.iter().map(|q| q.0).collect::<Vec<_>>(),
        ),
        Column::new(TEXT.into(), QUERIES.iter().map(|q| q.1).collect::<Vec<_>>()),
    ])?;
    let qrels = schema::frame(vec![
        Column::new(
            QUERY_ID.into(),
            QRELS.iter().map(|r| r.0).collect::<Vec<_>>(),
        ),
        Column::new(DOC_ID.into(), QRELS.iter().map(|r| r.1).collect::<Vec<_>>()),
        Column::new(
            RELEVANCE.into(),
            QRELS.iter().map(|r| r.2).collect::<Vec<_>>(),
        ),
    ])?;
    Ok(Beir {
        corpus,
        queries,
        qrels,
    })
}
