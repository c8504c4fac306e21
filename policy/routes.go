package policy

import "sort"

// RouteRow is one line of the compiled route table.
type RouteRow struct {
	Group   string   `json:"group"`
	Hosts   []string `json:"hosts"`
	Stage   string   `json:"stage"`
	Method  string   `json:"method"`
	Path    string   `json:"path"`
	API     string   `json:"api"`
	Backend string   `json:"backend"`
	Targets []string `json:"targets,omitempty"`
	Upath   string   `json:"backend_path,omitempty"`
}

// RouteTable lists every (host, stage, method, path) -> API -> backend, sorted.
func (s *Snapshot) RouteTable() []RouteRow {
	var rows []RouteRow
	for _, g := range s.Groups {
		hosts := g.Hosts
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		for st := StageID(0); st < numStages; st++ {
			for _, r := range g.routers[st].Routes() {
				api := r.Value
				row := RouteRow{Group: g.Name, Hosts: hosts, Stage: st.String(), Method: r.Method, Path: r.Template,
					API: api.Name, Backend: api.Backend.Name}
				for _, t := range api.Backend.Targets {
					row.Targets = append(row.Targets, t.URL)
				}
				if api.Backend.Mock != nil {
					row.Targets = []string{"(mock)"}
				}
				if c := api.Composite; c != nil {
					for _, call := range c.Calls {
						row.Targets = append(row.Targets, "(compose "+call.Name+" -> "+call.Backend.Name+")")
					}
				}
				if api.BackendPath != nil {
					row.Upath = api.BackendPath.String()
				}
				rows = append(rows, row)
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Stage != b.Stage {
			return a.Stage < b.Stage
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	return rows
}
