package dashboard

// Typed Go structs for the part of Grafana's dashboard JSON model that the
// generated dashboard uses. Field names and values follow the JSON model of
// Grafana 11/12 (schemaVersion 41); a test decodes every generated
// dashboard strictly into grafana-foundation-sdk's types, so a misspelt or
// missing field fails.

// Dashboard is a Grafana dashboard.
type Dashboard struct {
	// Comment carries the "generated, do not edit" notice: JSON has no
	// comments, and Grafana ignores unknown keys.
	Comment       string      `json:"__comment"`
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description,omitempty"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Refresh       string      `json:"refresh"`
	Time          TimeRange   `json:"time"`
	Templating    Templating  `json:"templating"`
	Annotations   Annotations `json:"annotations"`
	Links         []Link      `json:"links"`
	Panels        []Panel     `json:"panels"`
	FiscalYear    int         `json:"fiscalYearStartMonth"`
	LiveNow       bool        `json:"liveNow"`
	WeekStart     string      `json:"weekStart"`
	Preload       bool        `json:"preload"`
	TimePicker    *TimePicker `json:"timepicker,omitempty"`
	ID            *int        `json:"id"` // null: Grafana assigns it
	GNetID        *int        `json:"gnetId"`
}

// TimeRange is the default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// TimePicker lists the refresh intervals offered.
type TimePicker struct {
	RefreshIntervals []string `json:"refresh_intervals"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Annotations holds the annotation queries (none but Grafana's own).
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is Grafana's built-in annotations-and-alerts query.
type Annotation struct {
	BuiltIn    int            `json:"builtIn"`
	Datasource *DataSourceRef `json:"datasource"`
	Enable     bool           `json:"enable"`
	Hide       bool           `json:"hide"`
	IconColor  string         `json:"iconColor"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
}

// Link is a dashboard link.
type Link struct {
	Title       string `json:"title"`
	Type        string `json:"type"`
	URL         string `json:"url"`
	TargetBlank bool   `json:"targetBlank"`
	Icon        string `json:"icon"`
}

// Variable is a template variable: a query over label values, or a data
// source chooser.
type Variable struct {
	Name        string         `json:"name"`
	Label       string         `json:"label"`
	Description string         `json:"description,omitempty"`
	Type        string         `json:"type"` // "query" or "datasource"
	Query       string         `json:"query"`
	Definition  string         `json:"definition,omitempty"`
	Datasource  *DataSourceRef `json:"datasource,omitempty"`
	Regex       string         `json:"regex"`
	Refresh     int            `json:"refresh"` // 1 on load, 2 on time range change
	IncludeAll  bool           `json:"includeAll"`
	Multi       bool           `json:"multi"`
	AllValue    string         `json:"allValue,omitempty"`
	Sort        int            `json:"sort"`
	Hide        int            `json:"hide"`
	Current     Current        `json:"current"`
	Options     []any          `json:"options"`
}

// Current is a variable's selected value.
type Current struct {
	Text  any `json:"text,omitempty"`
	Value any `json:"value,omitempty"`
}

// DataSourceRef points at a data source, usually through a variable.
type DataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is one panel.
type Panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Datasource      *DataSourceRef   `json:"datasource,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     FieldConfig      `json:"fieldConfig"`
	Options         PanelOptions     `json:"options"`
	Transformations []Transformation `json:"transformations,omitempty"`
	Collapsed       *bool            `json:"collapsed,omitempty"` // rows only
	Panels          []Panel          `json:"panels,omitempty"`    // rows only
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one Prometheus query of a panel.
type Target struct {
	RefID        string         `json:"refId"`
	Datasource   *DataSourceRef `json:"datasource,omitempty"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat,omitempty"`
	Instant      bool           `json:"instant"`
	Range        bool           `json:"range"`
	Format       string         `json:"format,omitempty"` // "table" or "time_series"
	Interval     string         `json:"interval,omitempty"`
}

// FieldConfig is the panel's field defaults and overrides.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults are the default field settings.
type FieldDefaults struct {
	Unit        string         `json:"unit,omitempty"`
	Decimals    *int           `json:"decimals,omitempty"`
	Min         *float64       `json:"min,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	Color       *FieldColor    `json:"color,omitempty"`
	Thresholds  *Thresholds    `json:"thresholds,omitempty"`
	Mappings    []ValueMapping `json:"mappings"`
	Custom      *FieldCustom   `json:"custom,omitempty"`
}

// FieldColor is how a field is coloured.
type FieldColor struct {
	Mode       string `json:"mode"` // "thresholds", "palette-classic", "fixed"
	FixedColor string `json:"fixedColor,omitempty"`
}

// Thresholds colour values by steps; the first step has no value (-Inf).
type Thresholds struct {
	Mode  string          `json:"mode"` // "absolute"
	Steps []ThresholdStep `json:"steps"`
}

// ThresholdStep is one colour from Value up.
type ThresholdStep struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// ValueMapping maps values to text and colour.
type ValueMapping struct {
	Type    string                  `json:"type"` // "value"
	Options map[string]MappingValue `json:"options"`
}

// MappingValue is what one value maps to.
type MappingValue struct {
	Text  string `json:"text"`
	Color string `json:"color"`
	Index int    `json:"index"`
}

// FieldCustom holds the panel-type specific field settings used here.
type FieldCustom struct {
	CellOptions *CellOptions `json:"cellOptions,omitempty"` // table
	Align       string       `json:"align,omitempty"`       // table
	Inspect     *bool        `json:"inspect,omitempty"`     // table
	DrawStyle   string       `json:"drawStyle,omitempty"`   // timeseries
	LineWidth   int          `json:"lineWidth,omitempty"`
	FillOpacity int          `json:"fillOpacity,omitempty"`
	ShowPoints  string       `json:"showPoints,omitempty"`
	SpanNulls   *bool        `json:"spanNulls,omitempty"`
}

// CellOptions is how a table cell is drawn.
type CellOptions struct {
	Type string `json:"type"` // "auto", "color-background", "color-text"
	Mode string `json:"mode,omitempty"`
}

// Override changes properties of matching fields.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields, e.g. by name.
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one overridden field setting; its value's shape depends on
// its id (a unit string, thresholds, mappings, cell options).
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// PanelOptions holds the options of the panel types used here.
type PanelOptions struct {
	// table
	FrameIndex *int          `json:"frameIndex,omitempty"`
	ShowHeader *bool         `json:"showHeader,omitempty"`
	SortBy     []SortBy      `json:"sortBy,omitempty"`
	CellHeight string        `json:"cellHeight,omitempty"`
	Footer     *TableFooter  `json:"footer,omitempty"`
	Reduce     *ReduceOption `json:"reduceOptions,omitempty"` // stat, bargauge
	// bargauge, stat
	Orientation   string `json:"orientation,omitempty"`
	DisplayMode   string `json:"displayMode,omitempty"`
	ShowUnfilled  *bool  `json:"showUnfilled,omitempty"`
	ValueMode     string `json:"valueMode,omitempty"`
	NamePlacement string `json:"namePlacement,omitempty"`
	Sizing        string `json:"sizing,omitempty"`
	MinVizWidth   *int   `json:"minVizWidth,omitempty"`
	MinVizHeight  *int   `json:"minVizHeight,omitempty"`
	MaxVizHeight  *int   `json:"maxVizHeight,omitempty"`
	// timeseries, state-timeline
	Legend      *Legend  `json:"legend,omitempty"`
	Tooltip     *Tooltip `json:"tooltip,omitempty"`
	MergeValues *bool    `json:"mergeValues,omitempty"`
	ShowValue   string   `json:"showValue,omitempty"`
	AlignValue  string   `json:"alignValue,omitempty"`
	RowHeight   float64  `json:"rowHeight,omitempty"`
	// text
	Mode    string `json:"mode,omitempty"`
	Content string `json:"content,omitempty"`
}

// SortBy sorts a table by a column.
type SortBy struct {
	DisplayName string `json:"displayName"`
	Desc        bool   `json:"desc"`
}

// TableFooter is a table's footer.
type TableFooter struct {
	Show    bool     `json:"show"`
	Reducer []string `json:"reducer"`
}

// ReduceOption reduces a series to one value.
type ReduceOption struct {
	Calcs  []string `json:"calcs"`
	Fields string   `json:"fields"`
	Values bool     `json:"values"`
}

// Legend is a graph legend.
type Legend struct {
	DisplayMode string   `json:"displayMode"` // "list", "table", "hidden"
	Placement   string   `json:"placement"`   // "bottom", "right"
	ShowLegend  bool     `json:"showLegend"`
	Calcs       []string `json:"calcs"`
}

// Tooltip is a graph tooltip.
type Tooltip struct {
	Mode string `json:"mode"` // "single", "multi"
	Sort string `json:"sort"`
}

// Transformation transforms query results before display.
type Transformation struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}

// OrganizeOptions renames, hides and orders table columns.
type OrganizeOptions struct {
	ExcludeByName map[string]bool   `json:"excludeByName"`
	IndexByName   map[string]int    `json:"indexByName"`
	RenameByName  map[string]string `json:"renameByName"`
}
