//! `denovo inspect`.

use anyhow::Context;
use clap::Args;
use denovo_data::Format;
use std::path::PathBuf;

/// Arguments of `denovo inspect`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  denovo inspect ../shared/data/rat_W053.csv
  denovo inspect ibl_processed.csv --json > summary.json
  denovo inspect alf_root/ --plot curve.svg

Formats: trials-csv (subject, session, choice, answer [, trial, reward, date, inputs…]),
ibl-csv (the literature's ibl_processed.csv), ibl-alf (an IBL tree as ONE caches it:
<subject>/<date>/<number>/alf[/task_NN][/#revision#]/_ibl_trials.<field>[.<uuid>].npy or
_ibl_trials.table.pqt; the latest revision of every dataset). `auto` reads a folder as ALF
and tells the CSVs apart by their header. Session folders that gave no trials are listed
with the reason. The --json document is described in docs/cli.md.")]
pub struct InspectArgs {
    /// The behaviour file (CSV) or ALF folder.
    pub data: PathBuf,
    /// The file format.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    #[command(flatten)]
    pub alf: crate::AlfArgs,
    /// Print the summary as JSON (stable; see docs/cli.md) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also draw the learning curve (accuracy per session) to this .png or .svg file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// Version of the `inspect --json` document.
pub const INSPECT_SCHEMA: &str = "denovo.inspect/1";

pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let data = denovo_data::load_with(&args.data, &args.alf.options(args.format))?;
    let summary = data.summary();
    if args.json {
        let mut doc = serde_json::to_value(&summary)?;
        doc["schema"] = INSPECT_SCHEMA.into();
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", denovo_report::text::summary_text(&summary));
    }
    if let Some(plot) = &args.plot {
        denovo_report::learning_curve(&data, plot)
            .with_context(|| format!("drawing the learning curve to {}", plot.display()))?;
        if !args.json {
            println!("learning curve written to {}", plot.display());
        }
    }
    Ok(())
}
