"""The configuration: every tunable number of the pipeline, in one dataclass.

A :class:`Config` is made of one section per stage. It is loaded from TOML files
(``configs/*.toml``, or a user's file) whose tables have the section names below; a
file only needs the keys it changes. Unknown keys, wrong types and out-of-range values
raise :class:`~diarize.errors.ConfigError`. A key that was renamed still loads under its
old name, and a removed one is ignored, each with a
:class:`~diarize.errors.DeprecatedKeyWarning` (:data:`RENAMED_KEYS`, :data:`REMOVED_KEYS`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import sys
import textwrap
import typing
import warnings
from dataclasses import dataclass, field, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping, TypeGuard

from .errors import ConfigError, DeprecatedKeyWarning

#: Largest FFT (samples): bounds the spectra the front end holds per block.
MAX_FFT = 8192
#: Largest speaker count a configuration may ask for.
MAX_SPEAKERS = 1000
#: Largest seed (numpy's legacy generators take 32-bit seeds).
SEED_MAX = 2**32 - 1


def ranged(default: float | None, min: float | None = None, max: float | None = None, *,
           exclusive_min: bool = False, exclusive_max: bool = False) -> Any:
    """A numeric field with its allowed range, checked by :meth:`Config.validate`.

    Parameters
    ----------
    default : int or float
    min, max : number, optional
        Bounds of the allowed values (inclusive unless `exclusive_min` / `exclusive_max`).
    """
    return field(default=default, metadata={"min": min, "max": max,
                                             "exclusive_min": exclusive_min,
                                             "exclusive_max": exclusive_max})


def range_text(metadata: Mapping[str, Any]) -> str:
    """The allowed range of a :func:`ranged` field, as a message reads it ("in (0, 60]")."""
    lo, hi = metadata.get("min"), metadata.get("max")
    if lo is not None and hi is not None:
        return (f"in {'(' if metadata.get('exclusive_min') else '['}{lo!r}, "
                f"{hi!r}{')' if metadata.get('exclusive_max') else ']'}")
    if lo is not None:
        return f"{'>' if metadata.get('exclusive_min') else '>='} {lo!r}"
    if hi is not None:
        return f"{'<' if metadata.get('exclusive_max') else '<='} {hi!r}"
    return "a finite number"


def in_range(value: float, metadata: Mapping[str, Any]) -> bool:
    """Whether `value` is finite and within the range of a :func:`ranged` field."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    lo, hi = metadata.get("min"), metadata.get("max")
    if lo is not None and (value <= lo if metadata.get("exclusive_min") else value < lo):
        return False
    if hi is not None and (value >= hi if metadata.get("exclusive_max") else value > hi):
        return False
    return True


@dataclass
class AudioConfig:
    """Audio loading."""

    sample_rate: int = ranged(16000, 4000, 192000)
    """Rate (Hz) every input is resampled to."""
    block_seconds: float = ranged(30.0, 0.1, 600.0)
    """Audio is read, downmixed and resampled in blocks of this many seconds."""
    highpass_hz: float = ranged(10.0, 0.0, 1000.0)
    """Cutoff (Hz) of the high-pass applied after resampling, before anything measures
    level: it removes DC offset and sub-audio rumble (cheap sound cards record both), which
    would otherwise read as loud non-speech and hide the speech. 0 turns it off. 10 Hz is
    below the filterbank's lowest edge (features.fmin, 20 Hz), where it attenuates by
    0.3 dB, so the band the models hear is kept. Chosen on sim/ with
    scripts/check_dc_offset.py, then checked on real/ (see docs/accuracy.md)."""
    highpass_order: int = ranged(2, 1, 8)
    """Order of the high-pass (Butterworth, at most 8): 2 is -12 dB per octave below the
    cutoff, -3 dB at it."""
    min_sample_rate: int = ranged(4000, 1000, 192000)
    """Inputs recorded at a lower rate (Hz) are refused: they cannot hold the speech band
    (telephone audio is 8000 Hz)."""


@dataclass
class FeatureConfig:
    """MFCC front end."""

    win_length: float = ranged(0.025, 0.005, 0.1)
    """Analysis window (seconds)."""
    hop_length: float = ranged(0.010, 0.001, 0.1)
    """Frame step (seconds)."""
    n_fft: int = ranged(512, 16, MAX_FFT)
    """FFT size (samples; raised to the next power of two above the window, which must not
    need more than 8192)."""
    n_mels: int = ranged(40, 2, 256)
    """Mel bands (librosa's Slaney filterbank); each band must hold at least one FFT bin
    between fmin and fmax."""
    n_mfcc: int = ranged(20, 2, 128)
    """Cepstra kept, c0 included (c0 is dropped for speaker modelling)."""
    fmin: float = ranged(20.0, 0.0, 96000.0)
    """Lower filterbank edge (Hz)."""
    fmax: float = ranged(7600.0, 0.0, 96000.0, exclusive_min=True)
    """Upper filterbank edge (Hz); clipped to the Nyquist rate."""
    deltas: bool = False
    """Append first-order deltas."""
    delta_width: int = ranged(9, 3, 51)
    """Frames in the delta regression window (an odd number)."""
    cmvn: bool = True
    """Mean/variance normalise each coefficient over the recording's speech frames."""
    pre_emphasis: float = ranged(0.97, 0.0, 1.0, exclusive_max=True)
    """First-order pre-emphasis coefficient applied before the FFT."""
    voicing_fmin: float = ranged(80.0, 20.0, 2000.0)
    """Lowest pitch (Hz) the voicing measure looks for (the speech detector's front end;
    the lag is limited to half the FFT size, and below about two periods per window the
    measure gets noisy)."""
    voicing_fmax: float = ranged(400.0, 40.0, 4000.0)
    """Highest pitch (Hz) the voicing measure looks for."""
    floor_db: float = ranged(0.0, 0.0, 150.0)
    """Recording-relative noise floor (dB; 0: off): every frame's power spectrum, frame
    energy and voicing get the expected contribution of white noise this many dB below
    the recording's loud frames (the floor_quantile of its frame mean squares), as if that
    noise had been added to the signal (Kaldi's dither, without its randomness). Digital
    silence, and noise well below the floor, then read as the floor itself, and scaling a
    recording scales the floor with it (the features do not depend on its gain). The
    frames are held as mel energies until the recording's end, which knows the level:
    about 0.5 MB more per minute of audio (30 MB per hour) while features are computed."""
    floor_quantile: float = ranged(0.95, 0.5, 1.0)
    """floor_db > 0: the quantile of the frame mean squares (digital silence left out)
    the floor is measured from; 0.95 is the recording's loud speech, as the speech
    detector's level reference (sad.normalised_levels)."""
    band_floor: bool = False
    """The features of segmentation, BIC merging and resegmentation: each mel band that
    a steady noise outweighs (band_floor_range_db) has its energy floored at the
    recording's own noise in that band (its band_floor_quantile over the frames, digital
    silence left out, raised by band_floor_db), so that cells where the noise outweighs
    the voice read as one constant instead of the noise's random variation, which is
    alike for every voice. Linking and naming (the UBM's features, as it was trained) and
    the speech detector read the cepstra without it. For recordings with a steady hiss;
    not a default (docs/stability.md). The frames' mel energies are held until the
    recording's end: about 1 MB more per minute of audio (57 MB per hour) while features
    are computed."""
    band_floor_quantile: float = ranged(0.1, 0.0, 0.5)
    """band_floor: the quantile of each band's energies over the recording taken as its
    noise (0.1: the quietest tenth of the frames, pauses in a conversation)."""
    band_floor_db: float = ranged(3.0, -30.0, 30.0)
    """band_floor: how far above that noise (dB) the floor lies."""
    band_floor_range_db: float = ranged(8.0, 0.0, 1000.0)
    """band_floor: only the bands the noise outweighs are floored: those whose loud
    frames (their band_floor_loud_quantile over the recording) stand less than this many
    dB above the band's noise (band_floor_quantile). A recording with no such band keeps
    the plain cepstra, bit for bit. 8 dB: in white noise at 12-18 dB under the voices the
    bands above a few kHz hold little else (docs/stability.md, session 16); 1000 floors
    every band (band_floor before session 16)."""
    band_floor_loud_quantile: float = ranged(0.9, 0.5, 1.0)
    """band_floor: the quantile of each band's energies over the recording taken as its
    loud frames (band_floor_range_db)."""


@dataclass
class SadConfig:
    """Speech activity detection."""

    method: Literal["model", "energy"] = "model"
    """'model' (shipped speech/non-speech GMMs on MFCCs and relative level, see docs/sad.md)
    or 'energy' (2-GMM on log energy)."""
    min_speech: float = ranged(0.25, 0.0, 60.0)
    """Speech runs shorter than this (seconds) are dropped."""
    min_silence: float = ranged(0.75, 0.0, 60.0)
    """Non-speech gaps shorter than this (seconds) are filled."""
    median_frames: int = ranged(11, 1, 1001)
    """'energy': length (frames) of the median filter applied to the frame decision."""
    energy_floor_db: float = ranged(-95.0, -200.0, 0.0)
    """Frames quieter than this are never speech, in dB on the scale where the recording's
    loud frames (95th percentile) read -25 dBFS: 70 dB below them by default, at any gain.
    Digital silence never is, whatever this says."""
    min_dynamic_range_db: float = ranged(12.0, 0.0, 100.0)
    """'energy': if the 2-GMM energy classes are closer than this, the signal is treated as
    all one class."""
    threshold: float = ranged(2.0, -100.0, 100.0)
    """'model': frames whose window-averaged speech/non-speech log-likelihood ratio exceeds
    this are speech."""
    llr_window: float = ranged(0.5, 0.0, 10.0, exclusive_min=True)
    """'model': length (seconds) of the moving average applied to the frame log-likelihood ratio."""
    model_path: str = ""
    """'model': a model file from scripts/train_sad.py; empty for the shipped one."""
    refine_boundaries: bool = True
    """'model': after the smoothed decision, place speech boundaries frame by frame
    (diarize.boundaries: a speech/pause Viterbi near the smoothed decision). Off: the
    smoothed decision as it is, pauses under min_silence bridged and onsets cut."""
    boundary_window: float = ranged(0.15, 0.0, 10.0)
    """'model', refine_boundaries: how far (seconds) the refined speech may reach beyond
    the smoothed decision's speech. Chosen on speech detection alone over real/ and sim/:
    narrower cuts quiet onsets, wider adds false alarm around noises."""
    boundary_llr_window: float = ranged(0.1, 0.0, 10.0, exclusive_min=True)
    """'model', refine_boundaries: the frame log-likelihood ratio is averaged over this many
    seconds before the frame-level decision (about one phone)."""
    boundary_margin: float = ranged(3.0, -100.0, 100.0)
    """'model', refine_boundaries: a frame counts as evidence for speech when its averaged
    ratio exceeds threshold minus this (so -1.0 with the default threshold). Chosen on
    real/ and sim/: lower margins cut quiet word edges."""
    boundary_switch_cost: float = ranged(100.0, 0.0, 1e6)
    """'model', refine_boundaries: log-likelihood cost of each change between speech and
    pause, so a pause inside speech must carry clearly more evidence than two changes
    cost (a 0.3 s pause: averaged ratio about 7 below the evidence level). Chosen on
    real/ and sim/: lower costs split the pauses that meeting references count as speech,
    higher ones bridge real pauses."""
    background_quantile: float = ranged(0.5, 0.0, 1.0)
    """'model', refine_boundaries: the evidence level is raised to this quantile of the
    averaged ratio over the recording's background (frames beyond boundary_window of the
    smoothed speech, when there are min_background seconds of them), so that in a
    recording whose noise the model finds speech-like the boundaries do not slide into the
    noise. Chosen on real/ and sim/: higher quantiles cut speech in noisy recordings."""
    min_background: float = ranged(1.0, 0.0, 3600.0)
    """'model', refine_boundaries: seconds of background a recording needs before
    background_quantile reads its level (a quantile of fewer frames would follow one
    noise). Set once, not tuned."""
    min_pause: float = ranged(0.3, 0.0, 60.0)
    """'model', refine_boundaries: shortest pause (seconds) between two speech runs: the
    usual reference convention (a silence of 0.25-0.3 s or more ends a segment)."""
    adapt: bool = True
    """'model': a second pass with the shipped models' means MAP-adapted to the recording's
    own confidently labelled frames (see adapt_nonspeech_fraction), then the same decision
    and boundaries again on the adapted models' ratio; speaker modelling keeps the first
    pass's smoothed decision, so that a room's steady noise is learnt as non-speech. It
    helps real/ (audio unlike the speech model's training data, as unseen audio is) and
    costs sim/ a little quiet speech; off gives the shipped models as they are (see
    docs/accuracy.md)."""
    adapt_speech_fraction: float = ranged(0.0, 0.0, 1.0)
    """'model', adapt: the speech model adapts on the frames well inside the first pass's
    smoothed speech that are among this fraction of the recording with the highest
    averaged ratio. 0: the speech model is not adapted (where the first pass takes a
    noise for speech, an adapted speech model learns the noise)."""
    adapt_nonspeech_fraction: float = ranged(0.1, 0.0, 1.0)
    """'model', adapt: the non-speech model adapts on the frames well outside the first
    pass's smoothed speech that are among this fraction (of the frames that
    `adapt_nonspeech_scope` names) with the lowest averaged ratio. Higher fractions take
    quiet speech for non-speech, lower ones keep more false alarm."""
    adapt_nonspeech_scope: Literal["recording", "nonspeech"] = "recording"
    """'model', adapt: what `adapt_nonspeech_fraction` is a share of: 'recording', all
    its frames (above digital silence); 'nonspeech', the frames well outside the first
    pass's smoothed speech only, so that a recording of long silences adapts to much of
    its background and one of dense speech to a little of it (a share of the whole
    recording reaches, in the latter, past its pauses into quiet speech). 'recording' by
    default: 'nonspeech' with a fraction of 0.5 gains on the AMI clips over speech-model
    seeds only in three clips with next to no speech, and costs the shipped model real/
    speech there (docs/stability.md, session 18)."""
    adapt_relevance: float = ranged(64.0, 0.0, 1e6)
    """'model', adapt: MAP relevance factor (frames a component must see before the
    recording weighs as much as the shipped model). Lower values cut more quiet speech,
    higher ones keep more false alarm."""


@dataclass
class ClusterConfig:
    """Speaker modelling, clustering and speaker-count selection."""

    segment_seconds: float = ranged(1.0, 0.1, 60.0)
    """Length of the initial speech chunks that are clustered bottom-up (segmentation
    'fixed')."""
    segmentation: Literal["fixed", "change"] = "fixed"
    """How speech is cut into the chunks that BIC merges: 'fixed' (pieces of
    segment_seconds) or 'change' (at speaker-change points: peaks of the Gaussian
    likelihood ratio (GLR) between two adjacent windows of change_window seconds slid
    over each speech run, as LIUM's segmentation; pieces longer than change_max_seconds
    are cut evenly). Measured in docs/stability.md."""
    change_window: float = ranged(2.5, 0.1, 60.0)
    """segmentation 'change': seconds of speech in each of the two windows compared
    either side of a candidate change (a change needs this much speech on both sides
    inside one speech run)."""
    change_step: float = ranged(0.1, 0.01, 10.0)
    """segmentation 'change': spacing of the candidate change points (seconds); the
    window is a whole number of steps."""
    change_peak: float = ranged(0.0, -100.0, 100.0)
    """segmentation 'change': a local maximum of the GLR curve is a change when it stands
    this many robust standard deviations (1.4826 x the median absolute deviation) above
    the median of the recording's own curve: relative to the recording, not an absolute
    likelihood ratio."""
    change_min_seconds: float = ranged(0.5, 0.05, 60.0)
    """segmentation 'change': shortest chunk (seconds of speech): changes closer than this
    are one peak (the highest), and speech runs shorter than this are grouped with the
    next as in 'fixed'."""
    change_max_seconds: float = ranged(1.0, 0.1, 600.0)
    """segmentation 'change': longest chunk (seconds of speech); longer pieces between
    changes are cut into equal parts, so BIC still sees bounded chunks. Both bounds grow
    with the recording so that there are never more than max_segments chunks. The 0.5 /
    1.0 s bounds and change_peak 0 (every local maximum above the median) are the best of
    the settings screened in docs/stability.md: the detector over-segments, as LIUM's
    does, and the linear BIC pass joins what it cut within one voice."""
    stop_rule: Literal["global", "local"] = "local"
    """How BIC picks the count: 'global' (the minimum of the whole clustering's BIC over
    min..max speakers) or 'local' (stop merging at the first merge whose BIC gain is
    positive)."""
    bic_penalty: float = ranged(0.2, 0.0, 100.0)
    """Weight of the BIC model-complexity penalty per second**penalty_exponent of speech. With
    UBM linking, BIC merging over-segments on purpose (0.2); BIC alone counts best at 0.32."""
    penalty_exponent: float = ranged(0.5, 0.0, 2.0)
    """lambda = bic_penalty * speech_seconds ** penalty_exponent: the log-likelihood gain of
    splitting one voice grows with the amount of speech faster than BIC's log n penalty, so a
    fixed lambda over-counts long recordings and under-counts short ones."""
    max_bic_seconds: float = ranged(300.0, 1.0, 1e6)
    """Recordings with more speech than this (seconds) are scored by BIC as if they had this
    much, with the same statistics, so that hours of speech are not split into extra speakers."""
    linear_merge: bool = True
    """First merge neighbouring chunks that BIC says are one voice."""
    linear_order: Literal["sequential", "best"] = "best"
    """linear_merge: 'sequential' (each chunk joins its predecessor's cluster when BIC
    says so, left to right: a greedy order that one moved chunk boundary can flip) or
    'best' (the cheapest neighbouring pair of clusters is merged first, while any has a
    negative BIC cost: the result does not depend on the direction of the pass). 'best'
    was chosen by leave-one-corpus-out over speech models trained with 5 seeds: better on
    average on each of the AMI clips, the other real recordings and sim/, and less
    fragile (docs/stability.md)."""
    linear_penalty: float = ranged(1.0, 0.0, 10.0)
    """linear_merge: weight of the BIC penalty (P log n_ij) in the linear pass's merge
    rule: two neighbouring runs are joined while their covariance-fit cost is below this
    times P log n_ij. 1 is plain BIC; below 1 the pass is stricter (neighbouring turns of
    two voices are joined less often; the global BIC merging is unchanged)."""
    linear_max_seconds: float = ranged(0.0, 0.0, 3600.0)
    """linear_merge: longest run (seconds of speech) the linear pass may form (0: no
    limit), so that one long run cannot swallow a neighbour's short turn; longer runs are
    left to the global BIC merging."""
    grid_offsets: int = ranged(1, 1, 16)
    """'ubm' linking, segmentation 'fixed': how many chunk grids BIC merging runs on, shifted by 1/N of a chunk
    each (1: one grid, no consensus). With more, the frames' co-association (the share of
    the runs that put two frames in one cluster) is cut by average linkage at
    consensus_threshold and those clusters go to linking, so that where the grid falls
    (a shift of a few samples moves chunk boundaries) matters less. Costs N BIC runs; not
    done where max_segments lengthened the chunks (see long_chunk_ratio), whose clusters
    are resegmented before linking anyway."""
    consensus_threshold: float = ranged(0.5, 0.0, 1.0, exclusive_min=True)
    """grid_offsets > 1: clusters of the consensus are merged while their average
    co-association is above this (0.5: put together by more than half the runs)."""
    consensus_count: Literal["threshold", "median"] = "threshold"
    """grid_offsets > 1: where the consensus stops merging: 'threshold' (at
    consensus_threshold) or 'median' (at the median of the runs' cluster counts, the lower
    one of an even number of runs)."""
    max_segments: int = ranged(2000, 2, 5000)
    """Bound on the number of initial speech chunks (long recordings use longer chunks)."""
    covariance: Literal["full", "diag"] = "full"
    """Covariance of the per-cluster Gaussian in BIC merging: 'full' or 'diag'."""
    link_method: Literal["ubm", "none"] = "ubm"
    """Second clustering stage after BIC merging, which decides the number of speakers:
    'ubm' (the cross-likelihood ratio of UBM MAP-adapted speaker models, see
    diarize.speakers) or 'none' (the BIC count is final; then use bic_penalty 0.32, the
    BIC-only setting)."""
    link_threshold: float = ranged(5.0, -1000.0, 1000.0)
    """'ubm' linking: clusters whose cross-likelihood ratio (per-frame log-likelihood
    ratio, summed both ways; with link_norm 'cohort' each ratio in standard deviations of
    the cluster's ratios under the cohort's voices) is above this are merged."""
    link_stop: Literal["threshold", "mixture", "gap"] = "threshold"
    """'ubm' linking: where merging stops. 'threshold': at link_threshold, the same for
    every recording. 'mixture': at a threshold of the recording's own, where a
    two-Gaussian fit to the scores of all pairs of its initial clusters (each pair
    weighted by the product of their durations) crosses posterior 0.5 (as VBx's
    per-recording threshold), clipped to link_threshold +- link_stop_width. 'gap': at the
    count that the widest range of thresholds within link_threshold +- link_stop_width
    gives (the largest gap between the merge scores in that band; the count least moved
    by the threshold). Both measured over speech-model seeds in docs/stability.md."""
    link_stop_width: float = ranged(1.5, 0.0, 1000.0)
    """link_stop 'mixture' or 'gap': how far (in link_threshold's units) a recording's own
    threshold may move from link_threshold: the global threshold as a bounded prior (0:
    link_threshold itself)."""
    link_absorb_small: bool = True
    """'ubm' linking: a cluster left with less speech than reseg.min_speaker when merging
    stops (which resegmentation would not keep as a speaker) joins, whole, the speaker
    (a cluster with at least that much) it scores best with, below link_threshold if need
    be (not where BIC vetoes every such pair; link_stop 'threshold' or 'mixture'): the
    speakers are those linking kept, only where their frames go changes. False:
    resegmentation drops it and gives its frames, one by one, to the other speakers'
    GMMs, which, fitted on a few seconds each, send pieces of one voice to others. No
    number of its own (a speaker is what reseg.min_speaker says). Made the default in session 19 by leave-one-corpus-out
    over speech-model seeds 0-4 (docs/stability.md): held out, the AMI clips gain (18.44
    -> 18.38), sim/ gains (3.26 -> 3.14), the other real recordings are unchanged; the
    long-turn sets of scripts/make_long_turns.py lose 0.19 (10.16 -> 10.35), and real/
    moves less under delays of 1-13 samples (1.00 -> 0.54)."""
    link_bic_veto: float = ranged(0.38, 0.0, 100.0)
    """'ubm' linking: a merge needs BIC's consent too. Two clusters are not linked,
    whatever their cross-likelihood ratio, while one full-covariance Gaussian per cluster
    fits their clustering features better than one for both by more than this times the
    BIC penalty (weighted by speech seconds**penalty_exponent, as bic_penalty): the
    recording's own evidence that they are two voices, which does not depend on how much
    the channel is like the UBM's training speech. 0: off (the ratio alone decides). 0.38
    was chosen by leave-one-corpus-out over speech models trained with 5 seeds: every
    fold picks it, and it helps each held-out corpus (the other real recordings most; see
    docs/stability.md). Below about 0.35 it splits sim/ voices; under faint noise, which
    shrinks BIC's gains, it keeps fewer voices apart."""
    link_self_weight: float = ranged(0.5, 0.0, 10.0)
    """'ubm' linking: each pair's ratio is read against the two clusters' own ratios, and
    lowered by this times (the mean of the two own ratios - link_self_prior). A cluster's
    own ratio is the ratio between the two halves (in time) of its scored speech, each
    half's model adapted to that half alone: how alike the voice scores to itself in this
    recording is the scale its ratio to another voice is read on (what a channel or a
    language adds to every ratio, it adds to these too). A merged cluster's own ratio is
    its parts', weighed by their frames. 0: off (the ratio alone). 0.5 (with
    link_self_prior 8 and link_self_prior_frames 600) chosen by leave-one-corpus-out over
    speech models trained with 5 seeds: sim/ held out gains about a point, the AMI clips
    are equal, the other real recordings lose 0.07 (docs/stability.md). Ignored with
    link_scoring = 'statistics'."""
    link_self_prior: float = ranged(8.0, -1e3, 1e3)
    """'ubm' linking with link_self_weight: the own ratio at which a pair's score is its
    plain ratio (so link_threshold keeps its meaning for voices that score to themselves
    as a typical one does), and towards which a short cluster's own ratio is drawn."""
    link_self_prior_frames: float = ranged(600.0, 0.0, 1e6)
    """'ubm' linking with link_self_weight: the weight, in frames, of link_self_prior
    against a cluster's scored frames (at most link_max_frames) in its own ratio: a few
    seconds of speech say little about how a voice scores to itself."""
    link_self_recording_frames: float = ranged(0.0, 0.0, 1e9)
    """'ubm' linking with link_self_weight: a cluster's own ratio is drawn towards the
    recording's own ratio (every cluster's, by its frames scored) instead of towards
    link_self_prior, and the recording's is drawn towards link_self_prior by this weight,
    in frames; 0: towards link_self_prior alone. A room or a far microphone lowers every
    voice's ratio to itself, and the short clusters of a long turn then read against the
    recording's yardstick, not a constant."""
    relevance_factor: float = ranged(16.0, 0.0, 1e4)
    """'ubm' linking: MAP relevance factor (frames a UBM component must see before the data
    outweigh the prior)."""
    max_initial_clusters: int = ranged(40, 1, 1000)
    """'ubm' linking: most clusters BIC merging may hand to the linking stage."""
    reseg_before_link: Literal["always", "never", "long"] = "long"
    """'ubm' linking: resegment the BIC clusters (see [reseg]) before comparing them:
    'always', 'never', or 'long' (only when the recording has so much speech that its
    initial chunks are longer than segment_seconds, see max_segments and long_chunk_ratio:
    such chunks straddle speaker turns)."""
    long_chunk_ratio: float = ranged(1.5, 1.0, 100.0)
    """reseg_before_link 'long': a recording's speech chunks count as long when the longest
    holds more than this times segment_seconds of speech. Chunks are cut shorter than 1.5
    times segment_seconds unless max_segments forces longer ones, so at 1.5 only recordings
    whose chunks max_segments lengthened count as long."""
    link_norm: Literal["none", "cohort"] = "cohort"
    """'ubm' linking: score normalisation: 'none' or 'cohort' (each cluster's log-likelihood
    ratios read against its ratios under a cohort of training speakers' models shipped with
    the UBM: Z-norm)."""
    link_scoring: Literal["frames", "statistics"] = "frames"
    """'ubm' linking: how a cluster's frames are scored under another cluster's model:
    'frames' (each sampled frame on its top UBM components) or 'statistics' (from the
    cluster's UBM statistics with the frames' UBM alignment fixed: the linear scoring of
    GMM-UBM verification, no frames kept)."""
    link_max_frames: int = ranged(2000, 1, 100000)
    """'ubm' linking: frames per cluster scored (evenly spaced beyond this)."""
    link_level_db: float = ranged(0.0, 0.0, 200.0)
    """'ubm' linking: speaker models are adapted to, and score, only the frames whose
    energy is within this many dB of the loudest frame within link_level_window of them
    (0: every frame). A room's reverberant tail, a pause bridged by the speech detector
    and the noise between words are quiet beside the speech around them, and alike for
    every voice; the loud frames are the voice itself. Relative to the recording's own
    level where it is, not to an absolute one."""
    link_level_window: float = ranged(1.0, 0.01, 60.0)
    """'ubm' linking with link_level_db: length (seconds, centred) of the window whose
    loudest frame a frame's energy is compared with."""
    link_min_scored_frames: int = ranged(50, 1, 100000)
    """'ubm' linking with link_level_db: a cluster with fewer frames within
    link_level_db than this is modelled on all of its frames."""
    link_top_components: int = ranged(5, 1, 1024)
    """'ubm' linking: UBM components scored per frame."""
    link_nuisance_rank: int = ranged(0, 0, 1000)
    """'ubm' linking: session and channel directions of the UBM's supervector space (the
    shipped ``diarize/data/nuisance.npz``, as ``voices.nuisance_rank``) projected out of
    every cluster model and cohort model it scores (model-side NAP); 0: none."""
    ubm_path: str = ""
    """'ubm' linking: a model file from scripts/train_ubm.py; empty for the shipped one."""
    speech_per_speaker: float = ranged(0.5, 0.0, 3600.0)
    """Seconds of speech a count asked for (num_speakers, min_speakers) needs per speaker,
    both in the modelled speech and in the speech turns cover: with less than N times this,
    the result has as many speakers as there is speech for, with a SpeakerCountWarning.
    0.5 s is the decoder's shortest turn (reseg.decoder_min_turn); 0: any speech is enough
    (one frame per speaker)."""


@dataclass
class ResegConfig:
    """Viterbi resegmentation with per-speaker GMMs."""

    n_components: int = ranged(8, 1, 128)
    """Gaussians per speaker model."""
    iterations: int = ranged(2, 0, 100)
    """Rounds of (fit speaker GMMs, Viterbi); 0 keeps the clustering's labels as they are."""
    switch_penalty: float = ranged(50.0, 0.0, 1e6)
    """Log-likelihood cost of changing speaker between frames."""
    decoder_min_turn: float = ranged(0.5, 0.0, 60.0)
    """Shortest stay (seconds of speech) of the Viterbi decoder with one speaker, rounded
    to whole blocks of block_frames (at least one): the decoder may change speaker only
    after it."""
    block_frames: int = ranged(20, 1, 1000)
    """Frames per decoding block: the Viterbi decodes blocks of this many speech frames,
    each scored by its frames' summed log-likelihoods, so a speaker change falls on a
    block edge."""
    min_output_turn: float = ranged(0.25, 0.0, 60.0)
    """No output turn is shorter than this (seconds): a shorter run of one speaker goes to
    the longer neighbouring speaker it touches, or is dropped between two pauses. 0.25 s is
    the speech detector's own shortest speech run (sad.min_speech): nothing shorter is a
    turn anyone can hear."""
    min_speaker: float = ranged(2.0, 0.0, 3600.0)
    """A cluster with less speech than this (seconds) is not kept as a speaker: UBM
    linking first joins it to the cluster it scores best with (cluster.link_absorb_small);
    one left (BIC vetoed every such pair, or linking is off) is dropped here and its frames
    go to the speakers the decoder prefers (unless a count asked for needs it: the
    largest clusters are kept then)."""
    frames_per_component: int = ranged(50, 1, 100000)
    """Fewest frames per Gaussian when sizing a speaker model from little speech: a
    speaker with fewer than n_components times this many frames gets fewer Gaussians (at
    least one). Set once, not tuned."""
    max_iter: int = ranged(10, 1, 1000)
    """EM iterations per speaker model fit."""
    tol: float = ranged(1e-3, 0.0, 100.0, exclusive_min=True)
    """EM convergence threshold (mean log-likelihood gain per frame)."""
    max_frames: int = ranged(10000, 50, 100000)
    """Frames per speaker used to fit its model (subsampled evenly beyond this); at
    least the 50 frames one Gaussian of a speaker model is fitted on by default
    (frames_per_component)."""


@dataclass
class VoicesConfig:
    """Speaker models kept past one recording: enrolled voiceprints (named speakers) and
    the linking of speakers across the recordings of a batch."""

    relevance_factor: float = ranged(16.0, 0.0, 1000.0)
    """MAP relevance factor of voiceprints and of output speakers' models (frames a UBM
    component must see before its mean moves halfway to the data)."""
    max_frames: int = ranged(30000, 100, 10_000_000)
    """Frames per output speaker whose statistics are kept (evenly spaced beyond this):
    bounds the cost of keeping speakers' models on long recordings."""
    min_enroll_seconds: float = ranged(3.0, 0.0, 3600.0)
    """Least speech (seconds, after speech detection) one enrolment adds to a voiceprint."""
    threshold: float = ranged(4.5, -1000.0, 1000.0)
    """Named output: an output speaker gets an enrolled name only when its normalised
    verification score against that voiceprint is above this (open-set decision).
    Calibrated on voices the UBM never heard, as the voices named in use are: with a UBM
    and cohort trained on half of ../shared/train and scripts/bench_voices.py built from
    the other half (scripts/split_train.py; both halves, seeds 0-2), 4.0 (the value
    chosen on the UBM's own training voices) named 13.6 % of never-enrolled time and 4.5
    named 5.4 %, with named time right 96.8 % instead of 93.4 % (with the noisy copies at
    10-30 dB of then; at 5-25 dB, 6.7 %, most of it one speaker merged from an enrolled
    voice and strangers' turns in a noisy conversation, named up to 5.0); 5.0 and above
    name little on one half."""
    speaker_cmvn: bool = True
    """Kept voices' statistics from each voice's frames normalised by their own mean and
    spread (as an enrolment recording of one voice is), not by the recording's; False:
    the recording-wide normalisation of the clustering features."""
    margin_floor: float = ranged(3.0, -1000.0, 1000.0)
    """Named output: a speaker whose best score is only above this (not `threshold`) is
    named when it leads its runner-up voiceprint by more than `margin`."""
    margin: float = ranged(1000.0, 0.0, 1000.0)
    """Named output: lead over the runner-up voiceprint that `margin_floor` asks for
    (1000: off). 0.8 names more enrolled voices with a folder of dozens of voiceprints
    (bench_voices), but with a few voiceprints a stranger leads the others by chance."""
    one_speaker_per_name: bool = True
    """Named output: one output speaker per enrolled name (best pair first); False: every
    speaker whose best voiceprint scores above the threshold takes its name, so that
    speakers the clustering split from one enrolled voice become one."""
    symmetric: bool = True
    """Named output: score both ways (the speaker's speech under the voiceprint's model and
    the enrolment speech under the speaker's model) and average; False: the first only."""
    directions: Literal["mean", "min"] = "mean"
    """Named output, ``symmetric``: the two directions' scores combined by their mean, or
    their lesser ('min': an output speaker merged from an enrolled voice and others scores
    high one way only)."""
    cohort_trim: int = ranged(2, 0, 1000)
    """Named output: the highest cohort scores left out of each voice's normalisation (a
    cohort model of the very voice scored would shrink its score)."""
    cohort_match: bool = True
    """Named output: each pair is normalised against the cohort adapted as much as the
    model scored (each cohort voice's offset from the UBM shrunk per component as MAP
    shrinks the model's: :func:`diarize.speakers.matched_voice_scores`), so that a speaker
    with a few seconds of speech, whose model moves little from the UBM, is read against
    what as little speech of other voices would score. False: one normalisation per voice
    (the scores of releases before it). Guided diarization's screen and joins read the
    scores of one normalisation per voice, as do the condition models with
    ``condition_cohort``."""
    enroll_copies: int = ranged(3, 0, 30)
    """Multi-condition enrolment: degraded copies of the enrolment speech (noise, reverb,
    telephone band in turn; :func:`diarize.voices.degraded_copies`) whose statistics a
    voiceprint keeps next to the clean ones, as models of that voice in other recording
    conditions (0: the clean model alone). Voiceprints are scored with the recipe they
    were made with; a folder made with another one is refused (enrol again: voiceprints
    of releases before 3 was the default have none). 3 by default with guided
    diarization (`guide`), which keeps a speaker merged from an enrolled voice and a
    stranger from taking the name: at threshold 4.0 together they name 11.3 points more
    enrolled time than clean voiceprints without guiding over six scripts/bench_voices.py
    runs on the UBM's training voices (short seeds 0-3, long seeds 0-1), most of it in
    the noisy and reverberant half, and at 4.5 (`threshold`) 6.5 points more on six runs
    of voices the UBM never heard, at about the same rates of wrong names (README, Named
    speakers). Without guiding, copies alone named a merged
    speaker (14.3 % of never-enrolled time on short seed 0), so a run that is not guided
    (`guide` off, a speaker count asked, ``batch --link-speakers``) names with the clean
    models alone."""
    enroll_snr_low: float = ranged(5.0, -10.0, 60.0)
    """Multi-condition enrolment: lowest SNR (dB) of the noisy copies. 5-25 dB (was
    10-30): in a noisy recording a quiet voice sits well below the recording's own SNR
    (voices differ in level by up to 20 dB), and on six runs of voices the UBM never
    heard (scripts/bench_naming.py, seeds 0-2 of each half) the copies at 5-25 dB name
    74.4 % of enrolled time right instead of 65.7 %, never-enrolled time named 6.7 %
    instead of 5.4 % (all of the difference in that merged speaker's run); on
    fresh seeds 3-4 77.0 % instead of 69.2 %, 1.2 % instead of 0.8 %."""
    enroll_snr_high: float = ranged(25.0, -10.0, 60.0)
    """Multi-condition enrolment: highest SNR (dB) of the noisy copies (`enroll_snr_low`)."""
    enroll_rt60_low: float = ranged(0.2, 0.05, 2.0)
    """Multi-condition enrolment: shortest reverberation time (s) of the reverberant copies."""
    enroll_rt60_high: float = ranged(0.6, 0.05, 2.0)
    """Multi-condition enrolment: longest reverberation time (s) of the reverberant copies."""
    enroll_band_low: float = ranged(300.0, 20.0, 2000.0)
    """Multi-condition enrolment: lower edge (Hz) of the telephone copies' band."""
    enroll_band_high: float = ranged(3400.0, 1000.0, 8000.0)
    """Multi-condition enrolment: upper edge (Hz) of the telephone copies' band."""
    condition_scoring: Literal["max", "pooled"] = "max"
    """Multi-condition voiceprints: 'max' scores each of a voice's condition models (the
    clean one and one per copy) and keeps the best; 'pooled': one model of all its
    statistics pooled."""
    condition_cohort: bool = False
    """Multi-condition voiceprints ('max'): True normalises a condition model's scores
    against the cohort moved into its condition (each cohort model shifted as the voice's
    model shifted from clean to that condition) instead of the clean cohort. Off: on
    scripts/bench_voices.py it named no more enrolled time and, with ``--design long``,
    more never-enrolled time (README, Named speakers)."""
    nuisance_rank: int = ranged(0, 0, 1000)
    """Named output: session and channel directions of the UBM's supervector space
    (``nuisance_path``, from scripts/train_nuisance.py) projected out of every model
    scored, the cohort's included (nuisance attribute projection;
    :func:`diarize.speakers.with_nuisance`); 0: none. Applied when scoring: voiceprints
    need no new enrolment. Off: on scripts/bench_voices.py no rank named more enrolled
    time than none at the same rate of wrong names (README, Named speakers)."""
    link_nuisance_rank: int = ranged(20, 0, 1000)
    """``batch --link-speakers``: as ``nuisance_rank``, for the scores that link speakers
    across recordings (0: none). 20: chosen with ``link_threshold`` and ``link_fdr`` on
    scripts/bench_voices.py --link-only (short design and --recurring seeds 0-3, --design
    long seeds 0-2: batch minus per-file DER +2.7 points on average, +4.4 without), with
    ranks 16-30 alike; checked on ../shared/eval sim and the AMI clips of real
    (scripts/bench_link.py) and on fresh bench_voices seeds (README, The same voice across
    recordings). The shipped subspace belongs to the shipped UBM: with another
    ``cluster.ubm_path`` and no ``nuisance_path``, linking projects nothing."""
    nuisance_path: str = ""
    """The nuisance subspace file of ``nuisance_rank`` and ``link_nuisance_rank``; empty
    for the shipped one (``diarize/data/nuisance.npz``, trained for the shipped UBM)."""
    link_threshold: float = ranged(2.5, -1000.0, 1000.0)
    """``batch --link-speakers``: speakers of different recordings whose symmetric
    normalised score (``link_norm``) is above this are the same voice, if also above
    the chance level ``link_fdr`` sets (a floor: 2.5 to 3 give about the same with
    ``link_nuisance_rank`` 20 on scripts/bench_voices.py and bench_link.py, 3.5 misses
    links on the AMI clips; see the README)."""
    link_norm: Literal["batch", "cohort"] = "batch"
    """``batch --link-speakers``: 'batch' reads each pair's score against the scores of
    both speakers with the other speakers of the batch (symmetric normalisation, S-norm;
    with few of them, shrunk towards ``link_prior_mean``/``link_prior_std``), which
    carries a threshold across recording conditions the cohort does not know; 'cohort':
    the cohort-normalised score alone."""
    link_norm_quantile: float = ranged(0.3, 0.05, 0.9)
    """'batch' normalisation: the share of each speaker's scores (the lowest) read as
    scores of other voices: its location and scale come from this quantile and a third
    of it. Holds while a voice recurs in under 1 - this share of the other speakers."""
    link_norm_trim: float = ranged(3.0, 0.5, 100.0)
    """'batch' normalisation: a speaker's scores this many (quantile-estimated) standard
    deviations above its (quantile-estimated) mean are left out of its mean and spread,
    as likely scores of its own voice."""
    link_prior_mean: float = ranged(0.3, -100.0, 100.0)
    """'batch' normalisation: the expected score of two different voices (cohort
    normalised), the mean the batch's pooled scores are shrunk towards (each speaker's
    own scores are shrunk towards the batch's)."""
    link_prior_std: float = ranged(0.9, 0.01, 100.0)
    """'batch' normalisation: the expected spread of the scores of different voices."""
    link_prior_weight: float = ranged(10.0, 0.0, 1e6)
    """'batch' normalisation: how many scores a prior counts as: a speaker's scores are
    shrunk towards the batch's pooled scores, and those towards ``link_prior_mean`` /
    ``link_prior_std``, by this many pseudo-scores (a batch of a few speakers is
    normalised mostly by the configured prior, a dozen recordings by themselves)."""
    link_fdr: float = ranged(0.1, 0.0, 1.0)
    """'batch' normalisation: a link also needs a score above the one where the pairs
    expected above it by chance (different voices score about standard normal after the
    normalisation; a batch of P pairs has about P * Phi(-t) above t) are at most this
    share of the pairs above it (Benjamini-Hochberg false discovery rate; 0: the
    threshold alone). Chosen with scripts/bench_voices.py (seeds 0-3, with and without
    --recurring), where voices heard in one conversation only drew wrong links."""
    link_linkage: Literal["pooled", "average", "complete"] = "pooled"
    """``batch --link-speakers``: how a group of linked speakers is scored against another:
    'pooled' (their statistics pooled into one voice), 'average' or 'complete' (the mean
    or least of the member pairs' scores)."""
    cluster_level_db: float = ranged(20.0, 0.0, 200.0)
    """Named output: the speaker linking inside each recording adapts its models to, and
    scores, only the frames within this many dB of the loudest frame around them
    (``cluster.link_level_db``'s rule, which it replaces while voices name the speakers;
    0: ``cluster.link_level_db`` as it is). A speaker merged from an enrolled voice and a
    stranger gives the stranger a name, a worse error than the DER it costs, and linking
    on the loud frames merges fewer of them: with scripts/bench_naming.py (both sets of
    runs) as many enrolled seconds named right, fewer strangers named (training voices 2.2
    -> 0.8 %, voices the UBM never heard 8.5 -> 2.2 %), where clustering read speech
    alone it costs sim/ 0.3 points (docs/stability.md)."""
    guide: bool = True
    """Named output: let the enrolled voices guide the diarization. After resegmentation,
    the voiceprints that output speakers nominate (`guide_candidates`, `guide_screen`)
    become extra speakers, each of which takes the turns (runs of one speaker between
    pauses) its model explains better than their speaker's own model does (all models
    adapted from the UBM; :func:`diarize.guide.guided_labels`): a speaker merged from
    an enrolled voice and another is split, and the parts of a split one join; a speaker
    left whose best voiceprint is one that took turns, above `threshold` (the evidence a
    name needs, since joining names it), joins it.
    The speakers are then named as without (``threshold``): strangers are not named for
    it. Acts only when voices are given and no speaker count is asked (output without
    ``--voices`` is unchanged). False: the diarization as without voices. On by default
    (with `enroll_copies` 3 and `guide_screen` 2.5): on an hour of scripts/bench_voices.py's
    conversations (long design, 38 voiceprints) keeping the statistics, guiding and naming
    take 7.3-8.7 % of the rest of the run's CPU (the issue's budget for naming is 10 %;
    1.4-1.8 % without guiding), most of it the turns' UBM statistics and the models of the
    speakers that guiding changed. Over six runs (README, Named speakers) guiding names
    4.0 points more enrolled time than none with clean voiceprints (screen 2.0), and with
    the copies 11.3 points more than clean voiceprints without guiding (threshold 4.0)."""
    guide_screen: float = ranged(2.5, -1000.0, 1000.0)
    """Guided diarization (`guide`): least score of a voiceprint against an output speaker
    for that speaker to nominate it (a screen, below `threshold`: the naming decides).
    2.5 (was 2.0) since multi-condition voiceprints (`enroll_copies`) score higher: on the
    six scripts/bench_voices.py runs of the README (short seeds 0-3, long seeds 0-1) 2.0,
    2.5 and 3.0 name the same share of enrolled time (65.6 / 65.7 / 65.7 % on average;
    named time right 97.4 / 97.5 / 97.1 %, never-enrolled time named 2.4 % for all), and
    the guiding of an hour costs less the fewer voiceprints are nominated (naming
    9.5-10.6 / 7.3-8.7 / 5.4 % of the run's CPU): chosen there, for the cost."""
    guide_candidates: int = ranged(2, 1, 1000)
    """Guided diarization (`guide`): voiceprints each output speaker nominates, its best
    ones above `guide_screen`."""
    guide_iterations: int = ranged(2, 1, 20)
    """Guided diarization (`guide`): rounds of (re-estimate the speakers' models from the
    turns they hold, give each turn its speaker)."""
    guide_frame_step: int = ranged(8, 1, 100)
    """Guided diarization (`guide`): the statistics that screen voiceprints (the output
    speakers' nominations, and the speakers left that join an enrolled voice) come from
    every this many-th of their frames (of at most `max_frames`), counted as many times;
    1: every frame. The turns' statistics always come from every frame (from a
    subsample, strangers' turns go to enrolled voices)."""
    guide_keep_share: float = ranged(0.8, 0.5, 1.0, exclusive_min=True)
    """Guided diarization (`guide`): a speaker that holds at least this share of the
    frames it held before (and of whose frames at least this share it held then) counts
    as unchanged, which saves work: its frames keep their normalisation (`speaker_cmvn`)
    in the next round of guidance (:func:`diarize.guide.guided_labels`), and at the
    end it keeps its GMM and posteriors from the resegmentation instead of having them
    fitted again (:func:`diarize.resegment.refit`; the turns and names do not depend on
    those). 1: only a speaker with the very same frames (the costliest). With 0.8
    scripts/bench_voices.py (``--set voices.guide=true``) names as with 1 on short
    seeds 0 and 2 and better on short seed 1 (81.4 instead of 81.3 % of enrolled time
    named right) and long seed 0 (58.1 instead of 56.4 %), the other rates no worse;
    on the hour of its cost measurement (README) a speaker that lost 15.5 % of its
    frames to enrolled voices keeps its model (0.85 would fit it again)."""


@dataclass
class Config:
    """All tunable numbers of the pipeline."""

    seed: int = ranged(0, 0, SEED_MAX)
    """Random seed of every random choice (same input, config and seed: same output)."""
    num_speakers: int | None = ranged(None, 1, MAX_SPEAKERS)
    """Known number of speakers (overrides min/max)."""
    min_speakers: int = ranged(1, 1, MAX_SPEAKERS)
    """Smallest speaker count considered."""
    max_speakers: int = ranged(10, 1, MAX_SPEAKERS)
    """Largest speaker count considered."""
    audio: AudioConfig = field(default_factory=AudioConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    sad: SadConfig = field(default_factory=SadConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    reseg: ResegConfig = field(default_factory=ResegConfig)
    voices: VoicesConfig = field(default_factory=VoicesConfig)

    # ------------------------------------------------------------------ validation
    def validate(self) -> "Config":
        """Check every key's type, choices and range, then the rules that tie keys
        together; raise :class:`ConfigError` naming the bad key. Returns self."""
        for key, value, leaf, hint in _leaves(self):
            _check_value(key, value, hint, leaf.metadata)
        if self.min_speakers > self.max_speakers:
            raise ConfigError(
                f"min_speakers ({self.min_speakers}) is greater than max_speakers ({self.max_speakers})"
            )
        a = self.audio
        if a.highpass_hz >= a.sample_rate / 2:
            raise ConfigError(f"audio.highpass_hz ({a.highpass_hz}) must be below half the "
                              f"sample rate ({a.sample_rate / 2})")
        f, sr = self.features, self.audio.sample_rate
        if f.fmin >= min(f.fmax, sr / 2):
            raise ConfigError(f"features.fmin ({f.fmin}) must be below features.fmax ({f.fmax}) "
                              f"and half the sample rate ({sr / 2})")
        if f.voicing_fmin >= f.voicing_fmax:
            raise ConfigError(f"features.voicing_fmin ({f.voicing_fmin}) must be below "
                              f"features.voicing_fmax ({f.voicing_fmax})")
        if f.delta_width % 2 == 0:
            raise ConfigError(f"features.delta_width must be an odd number in [3, 51], got {f.delta_width}")
        v = self.voices
        for lo, hi in (("enroll_snr_low", "enroll_snr_high"),
                       ("enroll_rt60_low", "enroll_rt60_high"),
                       ("enroll_band_low", "enroll_band_high")):
            if getattr(v, lo) > getattr(v, hi):
                raise ConfigError(f"voices.{lo} ({getattr(v, lo)}) must not exceed "
                                  f"voices.{hi} ({getattr(v, hi)})")
        if f.n_mfcc > f.n_mels:
            raise ConfigError(f"features.n_mfcc ({f.n_mfcc}) must not exceed features.n_mels ({f.n_mels})")
        if f.win_length < f.hop_length:
            raise ConfigError(f"features.win_length ({f.win_length}) must be at least "
                              f"features.hop_length ({f.hop_length})")
        hop = f.hop_length * sr
        if abs(hop - round(hop)) > 1e-6:
            # frames are a whole number of samples apart, and their times are i * hop_length:
            # a rounded hop would move every later time (8 s an hour at 22050 Hz)
            raise ConfigError(f"features.hop_length ({f.hop_length} s) must be a whole number "
                              f"of samples at audio.sample_rate ({sr} Hz): it is {hop:g}")
        n_fft = self.fft_size()
        if n_fft > MAX_FFT:
            raise ConfigError(f"features.win_length ({f.win_length} s) at audio.sample_rate {sr} "
                              f"needs an FFT of {n_fft} samples; at most {MAX_FFT} are allowed")
        from .melscale import empty_bands  # here: reading a config imports no numpy

        fmax = min(f.fmax, sr / 2)
        if len(empty_bands(sample_rate=sr, n_fft=n_fft, n_mels=f.n_mels, fmin=f.fmin, fmax=fmax)):
            most = next((n for n in range(f.n_mels - 1, 1, -1) if not len(empty_bands(
                sample_rate=sr, n_fft=n_fft, n_mels=n, fmin=f.fmin, fmax=fmax))), 0)
            if not most:
                raise ConfigError(
                    f"features.fmin..fmax ({f.fmin:g}..{fmax:g} Hz) is too narrow for 2 mel "
                    f"bands at {n_fft}-point FFT and {sr} Hz: widen it or raise features.n_fft")
            raise ConfigError(
                f"features.n_mels ({f.n_mels}) leaves mel bands without an FFT bin between "
                f"{f.fmin:g} and {fmax:g} Hz at {n_fft}-point FFT and {sr} Hz: it must be in "
                f"[2, {most}] here (or widen features.fmin..fmax, or raise features.n_fft)")
        return self

    def fft_size(self) -> int:
        """FFT size of the front end: ``features.n_fft``, raised to the next power of two
        at or above the window's length in samples."""
        win = int(round(self.features.win_length * self.audio.sample_rate))
        return max(self.features.n_fft, 1 << (win - 1).bit_length())

    def with_speakers(self, *, num_speakers: int | None = None, min_speakers: int | None = None,
                      max_speakers: int | None = None) -> "Config":
        """A validated copy with the given speaker-count hints (None: keep the current value).

        A known `num_speakers` above ``max_speakers`` raises ``max_speakers`` to match,
        unless `max_speakers` is given too.
        """
        hints = {k: v for k, v in (("num_speakers", num_speakers), ("min_speakers", min_speakers),
                                   ("max_speakers", max_speakers)) if v is not None}
        if _integral(num_speakers):
            # A known count outside bounds given with it is a contradiction, not a hint.
            if _integral(min_speakers) and num_speakers < min_speakers:
                raise ConfigError(f"num_speakers ({num_speakers}) is less than min_speakers "
                                  f"({min_speakers})")
            if _integral(max_speakers) and num_speakers > max_speakers:
                raise ConfigError(f"num_speakers ({num_speakers}) is greater than "
                                  f"max_speakers ({max_speakers})")
            if max_speakers is None and num_speakers > self.max_speakers:
                hints["max_speakers"] = num_speakers
        elif num_speakers is None and _integral(self.num_speakers):
            # bounds given for a count this configuration already fixes: one that excludes
            # it would be dropped without a word (the known count wins)
            known = self.num_speakers
            if _integral(min_speakers) and known < min_speakers:
                raise ConfigError(f"min_speakers ({min_speakers}) is greater than the "
                                  f"configuration's num_speakers ({known}); give the count "
                                  "itself, or take num_speakers out of the configuration")
            if _integral(max_speakers) and known > max_speakers:
                raise ConfigError(f"max_speakers ({max_speakers}) is less than the "
                                  f"configuration's num_speakers ({known}); give the count "
                                  "itself, or take num_speakers out of the configuration")
        return self.replace(**hints) if hints else self.validate()

    # ------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        """Every value, as nested dicts of plain values (one per section)."""
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        """The configuration as TOML text (loadable by :func:`load_config`)."""
        return toml_text(self.to_dict())

    def replace(self, **overrides: Any) -> "Config":
        """A copy with top-level or dotted (``"reseg.decoder_min_turn"``) keys overridden.

        A renamed key's old name still works, with a :class:`DeprecatedKeyWarning`; a
        removed key is ignored with one (see :data:`RENAMED_KEYS`, :data:`REMOVED_KEYS`).
        """
        return self._replace(overrides, source="overrides")

    def _replace(self, overrides: Mapping[str, Any], *, source: str) -> "Config":
        """:meth:`replace`, with the warnings and errors naming `source` (``--set``)."""
        data = self.to_dict()
        seen: set[str] = set()
        for given, value in overrides.items():
            key = current_key(given.replace("__", "."), source=source)
            if key is None:
                continue
            parts = key.split(".")
            target = data
            for p in parts[:-1]:
                if p not in target or not isinstance(target[p], dict):
                    raise ConfigError(f"unknown configuration key {key!r}{did_you_mean(key)}")
                target = target[p]
            if parts[-1] not in target:
                raise ConfigError(f"unknown configuration key {key!r}{did_you_mean(key)}")
            if key in seen:  # an old and a new name of one key
                raise ConfigError(f"{source}: {key!r} given twice")
            seen.add(key)
            if isinstance(target[parts[-1]], dict) and isinstance(value, Mapping):
                # a section: the keys given change, the others keep this config's values
                # (a preset's), as a table of a --config file does
                target[parts[-1]] = {**target[parts[-1]], **value}
            else:
                target[parts[-1]] = value
        return config_from_dict(data, source=source)


def _integral(value: Any) -> TypeGuard[int]:
    """Whether `value` is an integer (a NumPy one too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_section(value: Any) -> bool:
    """Whether a value of a :class:`Config` is a section (a dataclass instance)."""
    return is_dataclass(value) and not isinstance(value, type)


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _leaves(cfg: Config) -> list[tuple[str, Any, dataclasses.Field, Any]]:
    """(dotted key, value, field, resolved type) of every key of `cfg`, in file order."""
    out: list[tuple[str, Any, dataclasses.Field, Any]] = []
    declared = _hints(Config)
    for f in fields(cfg):
        v: Any = getattr(cfg, f.name)
        if _is_section(v) and isinstance(v, declared[f.name]):
            hints = _hints(v.__class__)
            out.extend((f"{f.name}.{g.name}", getattr(v, g.name), g, hints[g.name])
                       for g in fields(v))
        else:
            out.append((f.name, v, f, declared[f.name]))
    return out


def config_fields() -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted key, field, resolved type) of every configuration key, in file order."""
    return [(key, f, hint) for key, _, f, hint in _leaves(Config())]


def _check_value(key: str, value: Any, hint: Any, metadata: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` unless `value` has the type, choice and range of its key."""
    args = typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return
        raise ConfigError(f"{key} must not be empty")
    if typing.get_origin(hint) is Literal:
        if value not in args:
            listed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{key} must be one of {listed}, got {value!r}")
        return
    base = next((a for a in args if a is not type(None)), hint) if args else hint
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        if not isinstance(value, base):  # Config(audio={...}) by hand
            raise ConfigError(f"{key} must be a section ({base.__name__}), got "
                              f"{type(value).__name__}")
        return
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
    elif base is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
    if base in (int, float) and not in_range(value, metadata):
        raise ConfigError(f"{key} must be {range_text(metadata)}, got {value!r}")


# ------------------------------------------------------------------ old key names
RENAMED_KEYS: dict[str, str] = {
    "reseg.min_turn": "reseg.decoder_min_turn",
    "reseg.shortest_turn": "reseg.min_output_turn",
    "reseg.smooth_frames": "reseg.block_frames",
    "sad.smooth_frames": "sad.median_frames",
}
"""Old dotted key -> its new name. An old name read from a TOML file or given as an
override still sets the new key, with a :class:`~diarize.errors.DeprecatedKeyWarning`.
Both keys of an entry must be in the same section (a table of a TOML file is read
as one mapping)."""

REMOVED_KEYS: dict[str, str] = {
    "cluster.link_score": "clusters are always compared by their cross-likelihood ratio",
    "cluster.count_method": "the speaker count is always chosen by BIC merging and linking",
    "cluster.dp_concentration": "the Dirichlet-process speaker count was removed",
    "cluster.dp_min_weight": "the Dirichlet-process speaker count was removed",
    "cluster.dp_max_iter": "the Dirichlet-process speaker count was removed",
}
"""Dotted key of a removed setting -> why it is gone. Given, it is ignored with a
:class:`~diarize.errors.DeprecatedKeyWarning`, so that old files still load. A key
listed here that is still a field of :class:`Config` is a current key: the entry
takes effect only once the field is deleted."""


@lru_cache(maxsize=None)
def _field_keys() -> frozenset[str]:
    return frozenset(key for key, _, _ in config_fields())


def did_you_mean(key: str) -> str:
    """``"; did you mean 'a.b'?"`` for an unknown dotted `key`: the known keys spelt
    closest to it, or those of the same name in another section ("" if none)."""
    import difflib

    known = sorted(_field_keys())
    leaf = key.rsplit(".", 1)[-1]
    close = ([k for k in known if k.rsplit(".", 1)[-1] == leaf]
             or difflib.get_close_matches(key, known, n=1, cutoff=0.75))
    return f"; did you mean {' or '.join(repr(k) for k in close)}?" if close else ""


def current_key(key: str, *, source: str = "config") -> str | None:
    """The current name of dotted configuration key `key`: itself, its new name if it was
    renamed, or None if it was removed (both with a warning naming `source`).

    Unknown keys are returned as they are, for the caller to refuse.

    Warns
    -----
    DeprecatedKeyWarning
        `key` is an old name (:data:`RENAMED_KEYS`) or a removed key (:data:`REMOVED_KEYS`).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecatedKeyWarning)
    ...     current_key("reseg.min_turn")
    'reseg.decoder_min_turn'
    """
    if key in _field_keys():
        return key
    new = RENAMED_KEYS.get(key)
    if new is not None:
        warnings.warn(f"{source}: {key} is deprecated, use {new} (the old name will stop "
                      "working in a later release)", DeprecatedKeyWarning, stacklevel=3)
        return new
    reason = REMOVED_KEYS.get(key)
    if reason is not None:
        warnings.warn(f"{source}: {key} is ignored: {reason}; leave it out",
                      DeprecatedKeyWarning, stacklevel=3)
        return None
    return key


def _current_names(table: Mapping[str, Any], source: str, *,
                   section: str | None = None) -> dict[str, Any]:
    """`table` (the top level, or the table of `section`) with old key names replaced by
    the current ones and removed keys left out.

    Raises
    ------
    ConfigError
        A key given under both its old and its new name.
    """
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for name, value in table.items():
        dotted = f"{section}.{name}" if section else name
        key = current_key(dotted, source=source)
        if key is None:
            continue
        new_section, _, new_name = key.rpartition(".")
        if (new_section or None) != section:  # not a rename within the table: leave it
            new_name = name
        if new_name in out:
            raise ConfigError(f"{source}: {given_as[new_name]} and {dotted} are the same "
                              f"key; give only {key}")
        out[new_name] = value
        given_as[new_name] = dotted
    return out


# ------------------------------------------------------------------ TOML writer
def toml_value(v: Any) -> str:
    """One value as TOML: booleans, integers, floats (``nan``/``inf`` included), strings."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + "".join(_TOML_ESCAPES.get(c, c) for c in v) + '"'
    return repr(v)


#: TOML basic-string escapes: the quote, the backslash and every control character
#: (which a basic string may not hold as it is).
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r",
                 **{chr(c): f"\\u{c:04X}" for c in (*range(0x20), 0x7F)
                    if chr(c) not in "\b\t\n\f\r"}}


def toml_text(data: Mapping[str, Any], *, docs: Mapping[str, str] | None = None,
                notes: Mapping[str, str] | None = None, width: int = 88) -> str:
    """TOML text of nested mappings: top-level keys first, then one table per mapping.

    Parameters
    ----------
    data : mapping
        Key -> value, or table name -> mapping of key -> value. A value of None is
        written commented out (``# key = (not set)``).
    docs : mapping of str to str, optional, keyword-only
        Dotted key -> text written above the key as comment lines of at most `width`.
    notes : mapping of str to str, optional, keyword-only
        Dotted key -> short comment written after the value.

    Returns
    -------
    str
        Empty when `data` is; otherwise ends with a newline.
    """
    docs, notes = docs or {}, notes or {}
    out: list[str] = []

    def emit(key: str, dotted: str, v: Any) -> None:
        if dotted in docs:
            out.extend(f"# {line}" for line in textwrap.wrap(docs[dotted], width - 2))
        if v is None:
            out.append(f"# {key} = (not set)")
        else:
            note = f"  # {notes[dotted]}" if dotted in notes else ""
            out.append(f"{key} = {toml_value(v)}{note}")

    for k, v in data.items():
        if not isinstance(v, Mapping):
            emit(k, k, v)
    for k, v in data.items():
        if isinstance(v, Mapping):
            if out:
                out.append("")
            out.append(f"[{k}]")
            for kk, vv in v.items():
                emit(kk, f"{k}.{kk}", vv)
    return "\n".join(out) + "\n" if out else ""


def config_from_dict(data: Mapping[str, Any], *, base: Config | None = None,
                     source: str = "config") -> Config:
    """Build a validated :class:`Config` from nested mappings, over `base` (default: defaults).

    Raises
    ------
    ConfigError
        Unknown key, wrong type or out-of-range value; the message names `source` and the key.
    """
    cfg = dataclasses.replace(base) if base is not None else Config()
    # deep copy sections so `base` is never mutated
    for f in fields(cfg):
        v: Any = getattr(cfg, f.name)
        if _is_section(v):
            setattr(cfg, f.name, dataclasses.replace(v))
    top = {f.name: f for f in fields(cfg)}
    for key, value in _current_names(data, source).items():
        if key not in top:
            raise ConfigError(f"{source}: unknown key {key!r} (known: {', '.join(top)})")
        current: Any = getattr(cfg, key)
        if _is_section(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: [{key}] must be a table")
            sub = {f.name: f for f in fields(current)}
            hints = _hints(current.__class__)
            for k2, v2 in _current_names(value, source, section=key).items():
                if k2 not in sub:
                    raise ConfigError(f"{source}: unknown key '{key}.{k2}' (known: {', '.join(sub)})")
                setattr(current, k2, _as_declared(v2, hints[k2]))
        else:
            setattr(cfg, key, _as_declared(value, _hints(Config)[key]))
    try:
        return cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _as_declared(value: Any, hint: Any) -> Any:
    """An integer given for a float key, as a float (TOML's ``1`` for ``1.0``); a NumPy
    (or other registered) integer or real scalar, as the Python int or float it stands for,
    so that ``np.int64(2)`` works wherever ``2`` does and the TOML output stays plain."""
    if _integral(value) and type(value) is not int:
        value = int(value)
    elif (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
            and type(value) is not float):
        value = float(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # left an integer: the range check refuses it
            return value
    return value


def presets_dir() -> Path:
    """Folder holding the shipped preset TOML files (``configs/`` of the repository).

    The repository's ``configs/`` folder is installed as the package ``diarize.configs``
    (see pyproject.toml), so presets are found both in a checkout and in a wheel.
    """
    here = Path(__file__).resolve().parent
    for cand in (here / "configs", here.parent / "configs"):
        if cand.is_dir():
            return cand
    return here.parent / "configs"


def available_presets() -> list[str]:
    """The names of the shipped presets (``--preset NAME``), sorted."""
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def load_config(path: str | os.PathLike | None = None, *, preset: str | None = None,
                base: Config | None = None) -> Config:
    """Load a configuration.

    Parameters
    ----------
    path : path-like, optional
        A TOML file; its keys override the preset (or the defaults).
    preset : str, optional, keyword-only
        Name of a shipped preset (``default``, ``meeting``, ...).
    base : Config, optional, keyword-only
        Starting point instead of the built-in defaults.

    Returns
    -------
    Config
    """
    cfg = base if base is not None else Config()
    if preset is not None:
        p = presets_dir() / f"{preset}.toml"
        if not p.is_file():
            raise ConfigError(
                f"unknown preset {preset!r} (available: {', '.join(available_presets())})"
            )
        cfg = _load_toml(p, cfg)
    if path is not None:
        cfg = _load_toml(Path(path), cfg)
    return cfg


def parse_settings(items: typing.Iterable[str], *, option: str = "--set") -> dict[str, Any]:
    """``KEY=VALUE`` strings as configuration overrides for :meth:`Config.replace`.

    Keys are dotted (``cluster.link_level_db``); each value is read as a TOML literal
    (``20``, ``0.5``, ``true``, ``"viterbi"``), and one that is not valid TOML is kept as
    a string, so ``reseg.decoder=viterbi`` needs no quotes.

    Raises
    ------
    ConfigError
        An item without ``=`` or without a key, or a key given twice (naming `option`).
    """
    tomllib = _toml_module()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{option} expects KEY=VALUE (a dotted key such as "
                              f"cluster.link_level_db=20), got {item!r}")
        if key in out:
            raise ConfigError(f"{option}: {key!r} given twice")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value.strip()
        except (ValueError, RecursionError) as exc:  # an integer of 5000 digits, [[[[...
            raise ConfigError(f"{option}: {key}: unreadable value "
                              f"({_short_reason(exc)})") from None
    return out


def with_settings(cfg: Config, items: typing.Iterable[str], *, option: str = "--set") -> Config:
    """`cfg` with the ``KEY=VALUE`` overrides of :func:`parse_settings` applied.

    Raises
    ------
    ConfigError
        A malformed item, an unknown key or a value out of its range, naming `option`.
    """
    settings = parse_settings(items, option=option)
    if not settings:
        return cfg
    try:
        return cfg._replace(settings, source=option)
    except ConfigError as exc:
        message = str(exc).removeprefix(f"{option}: ")
        raise ConfigError(f"{option}: {message}") from None


def _short_reason(exc: BaseException) -> str:
    """What a parser's ValueError or RecursionError says, in a few words."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return " ".join(str(exc).split(";")[0].split())


def _toml_module() -> Any:
    # here, not at the top: the defaults (most runs) need no TOML parser (~5 ms to import)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def _load_toml(path: Path, base: Config) -> Config:
    tomllib = _toml_module()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({' '.join(str(exc).split())})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text: byte "
                          f"0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    except (ValueError, RecursionError) as exc:  # an integer of 5000 digits, [[[[...
        raise ConfigError(f"{path}: unreadable TOML ({_short_reason(exc)})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    return config_from_dict(data, base=base, source=str(path))
