package simulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"close-recharge/internal/recharge"
)

// AdminPrefix starts the paths of the simulator's own test routes, which
// WeChat Pay does not have and which take no signature:
//
//	POST /simulator/recharges                               seed: [{sub_mchid,out_recharge_no,amount,state,notify_url,remark}]
//	POST /simulator/recharges/{no}/pay?sub_mchid=           RECHARGING → SUCCESS, notified
//	POST /simulator/recharges/{no}/expire?sub_mchid=        RECHARGING → CLOSED by WeChat Pay itself, notified
//	PUT  /simulator/recharges/{no}/notify-url?sub_mchid=    {"notify_url": "…"}
//	GET  /simulator/notifications                           every notification and how each attempt was answered
//
// Pay and expire answer the recharge; 404 when there is none, 409 when it is
// not RECHARGING.
const AdminPrefix = "/simulator/"

func (s *Server) adminRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /simulator/recharges", s.adminSeed)
	mux.HandleFunc("POST /simulator/recharges/{no}/pay", s.adminFinish(s.Pay))
	mux.HandleFunc("POST /simulator/recharges/{no}/expire", s.adminFinish(s.Expire))
	mux.HandleFunc("PUT /simulator/recharges/{no}/notify-url", s.adminNotifyURL)
	mux.HandleFunc("GET /simulator/notifications", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.Notifications())
	})
	return mux
}

func (s *Server) adminSeed(w http.ResponseWriter, r *http.Request) {
	var seeds []SeedRecharge
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&seeds); err != nil {
		adminJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be a JSON array of recharges"})
		return
	}
	if err := s.Seed(seeds...); err != nil {
		adminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	adminJSON(w, http.StatusOK, map[string]int{"seeded": len(seeds)})
}

func (s *Server) adminFinish(op func(subMchid, outRechargeNo string) (recharge.Recharge, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc, err := op(r.URL.Query().Get("sub_mchid"), r.PathValue("no"))
		switch {
		case errors.Is(err, ErrNoRecharge):
			adminJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case err != nil:
			adminJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		default:
			adminJSON(w, http.StatusOK, &rc)
		}
	}
}

func (s *Server) adminNotifyURL(w http.ResponseWriter, r *http.Request) {
	var body struct {
		NotifyURL string `json:"notify_url"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil ||
		!(strings.HasPrefix(body.NotifyURL, "http://") || strings.HasPrefix(body.NotifyURL, "https://")) {
		adminJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be {"notify_url": "http(s)://…"}`})
		return
	}
	if !s.SetNotifyURL(r.URL.Query().Get("sub_mchid"), r.PathValue("no"), body.NotifyURL) {
		adminJSON(w, http.StatusNotFound, map[string]string{"error": ErrNoRecharge.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
