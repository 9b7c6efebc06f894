package report

import "teardown/analyzer"

// Renders reports whether WriteFlow will render f rather than only count it
// in the summary: f passes the filter and, in text, markdown and html, is
// notable or --all was given. It needs only the flow's class and ids, so it fits
// analyzer.Config.Detail: flows nobody prints skip their timeline.
func (w *Writer) Renders(f *analyzer.Flow) bool {
	if !w.opts.Filter.Match(f) {
		return false
	}
	return w.fmt == JSON || w.fmt == NDJSON || w.opts.All || w.opts.Filter.explicit() || notable(f.Class)
}
