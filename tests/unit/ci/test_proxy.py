"""ci/deploy/proxy.py: the exact commands for given inputs, and the parser on answers captured from HAProxy 2.6.12
(Debian bookworm) in the proxy image; and the proxy image's helper (docker/proxy/mlci-proxy.py) on its own."""

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

from ci.deploy import proxy

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]

# Captured from `docker exec <proxy> mlci-proxy api 'show servers state model; show stat model 4 -1'` (the answer
# of show_servers_state_command), pasted verbatim; long lines are continued with a backslash only to fit flake8.

FRESH_START = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti\
me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st\
ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_\
addr srv_agent_addr srv_agent_port
4 model 1 blue 127.0.0.1 0 5 1 1 1 1 0 0 14 0 0 0 - 8000 - 0 0 - - 0
4 model 2 green 127.0.0.1 0 5 1 1 1 1 0 0 14 0 0 0 - 8000 - 0 0 - - 0

# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu\
s,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat\
e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_\
5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co\
mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che\
ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie\
,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c\
ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur\
,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss\
l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str\
eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str\
eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_\
total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,\
h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
model,blue,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,1,1,,1,4,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,\
,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:8000,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,\
,,,,,,,,,,,,,,,,,,,
model,green,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,0,1,1,,1,4,2,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0\
,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:8000,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,\
,,,,,,,,,,,,,,,,,,,,

"""

GREEN_PROBING = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti\
me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st\
ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_\
addr srv_agent_addr srv_agent_port
4 model 1 blue 172.31.0.2 2 4 1 1 2 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0
4 model 2 green 172.31.0.3 2 12 1 1 0 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0

# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu\
s,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat\
e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_\
5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co\
mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che\
ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie\
,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c\
ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur\
,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss\
l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str\
eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str\
eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_\
total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,\
h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
model,blue,0,0,0,8,,1955,2649025,654925,,0,,0,0,0,0,UP,1,1,0,0,1,2,0,,1,4,1,,1955,,2,619,,927,L7OK,2\
00,3,0,1955,0,0,0,0,,,,1955,0,0,,,,,0,,,0,1,7,12,,,,Layer7 check passed,,1,2,2,,,,172.31.0.2:8000,,h\
ttp,,,,,,,,0,1955,0,,,0,,0,52,46,71,0,0,0,0,8,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,green,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,1,1,0,0,1,0,0,,1,4,2,,0,,2,0,,0,L7OK,200,7,0,0,0,0,0,0,\
,,,0,0,0,,,,,-1,,,0,0,0,0,,,,Layer7 check passed,,1,2,2,,,,172.31.0.3:8000,,http,,,,,,,,0,0,0,,,0,,0\
,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,

"""

SWITCHED_BLUE_DRAINING = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti\
me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st\
ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_\
addr srv_agent_addr srv_agent_port
4 model 1 blue 172.31.0.2 2 12 1 1 0 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0
4 model 2 green 172.31.0.3 2 4 1 1 0 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0

# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu\
s,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat\
e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_\
5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co\
mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che\
ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie\
,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c\
ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur\
,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss\
l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str\
eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str\
eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_\
total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,\
h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
model,blue,0,0,0,8,,2256,3056880,755760,,0,,0,0,0,0,DRAIN,1,1,0,0,1,0,0,,1,4,1,,2256,,2,449,,927,L7O\
K,200,9,0,2256,0,0,0,0,,,,2256,0,0,,,,,0,,,0,0,7,13,,,,Layer7 check passed,,1,2,2,,,,172.31.0.2:8000\
,,http,,,,,,,,0,2256,0,,,0,,0,52,46,71,0,0,0,0,8,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,green,0,0,5,8,,88,112465,27805,,0,,0,0,0,0,UP,1,1,0,0,1,0,1,,1,4,2,,89,,2,88,,88,L7OK,200,7,0,\
83,0,0,0,0,,,,83,0,0,,,,,0,,,0,1,9,17,,,,Layer7 check passed,,1,2,2,,,,172.31.0.3:8000,,http,,,,,,,,\
0,89,0,,,0,,0,1,23,41,0,0,0,6,8,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,

"""

GREEN_SERVING_BLUE_MAINT = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti\
me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st\
ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_\
addr srv_agent_addr srv_agent_port
4 model 1 blue 172.31.0.2 0 5 1 1 0 15 3 0 14 0 0 0 - 8000 - 0 0 - - 0
4 model 2 green 172.31.0.3 2 4 1 1 1 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0

# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu\
s,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat\
e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_\
5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co\
mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che\
ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie\
,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c\
ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur\
,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss\
l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str\
eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str\
eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_\
total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,\
h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
model,blue,0,0,0,8,,2256,3056880,755760,,0,,0,0,0,0,MAINT,1,1,0,0,2,0,0,,1,4,1,,2256,,2,27,,927,,,,0\
,2256,0,0,0,0,,,,2256,0,0,,,,,1,,,0,0,7,13,,,,,,,,,,,,172.31.0.2:8000,,http,,,,,,,,0,2256,0,,,0,,0,5\
2,46,71,0,0,0,0,8,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,green,0,0,4,8,,543,730345,180565,,0,,0,0,0,0,UP,1,1,0,0,1,1,1,,1,4,2,,543,,2,530,,527,L7OK,200\
,0,0,539,0,0,0,0,,,,539,0,0,,,,,0,,,0,1,8,14,,,,Layer7 check passed,,1,2,2,,,,172.31.0.3:8000,,http,\
,,,,,,,0,543,0,,,0,,0,8,32,42,0,0,0,4,8,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,

"""

PROBE_FAILING = """\
1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti\
me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st\
ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_\
addr srv_agent_addr srv_agent_port
4 model 1 blue 172.31.0.2 0 12 1 1 3 8 2 0 6 0 0 0 - 9 - 0 0 - - 0
4 model 2 green 172.31.0.3 2 0 1 1 10 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0

# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu\
s,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat\
e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_\
5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co\
mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che\
ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie\
,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c\
ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur\
,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss\
l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str\
eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str\
eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_\
total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,\
h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
model,blue,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,0,1,3,3,,1,4,1,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0\
,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,1,2,0,,,,172.31.0.2:9,,http,,,\
,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,green,0,0,0,1,,1,87,175,,0,,0,0,0,0,UP,1,1,0,0,0,10,0,,1,4,2,,1,,2,0,,1,L7OK,200,0,0,1,0,0,0,0\
,,,,1,0,0,,,,,10,,,0,0,0,0,,,,Layer7 check passed,,1,2,2,,,,172.31.0.3:8000,,http,,,,,,,,0,1,0,,,0,,\
0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,

"""

DRAINING_IN_FLIGHT = """\

1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_ti\
me_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_st\
ate bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_\
addr srv_agent_addr srv_agent_port
4 model 1 blue 172.31.0.2 2 4 1 1 1 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0
4 model 2 green 172.31.0.3 2 8 1 1 0 15 3 2 6 0 0 0 - 8000 - 0 0 - - 0

# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,statu\
s,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rat\
e,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_\
5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,co\
mp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,che\
ck_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie\
,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,c\
ache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur\
,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ss\
l_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_str\
eam_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_str\
eam_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_\
total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,\
h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
model,blue,0,0,1,5,,420,567745,140365,,0,,0,0,0,0,UP,1,1,0,0,2,1,1,,1,4,1,,420,,2,420,,420,L7OK,200,\
1,0,419,0,0,0,0,,,,419,0,0,,,,,0,,,0,1,3,7,,,,Layer7 check passed,,1,2,2,,,,172.31.0.2:8000,,http,,,\
,,,,,0,420,0,,,0,,0,2,18,25,0,0,0,1,5,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
model,green,0,0,1,8,,2634,3566447,881895,,0,,0,0,0,0,DRAIN,1,1,0,0,0,0,0,,1,4,2,,2634,,2,654,,684,L7\
OK,200,0,0,2633,0,0,0,0,,,,2633,0,0,,,,,0,,,0,0,4,8,,,,Layer7 check passed,,1,2,2,,,,172.31.0.3:8000\
,,http,,,,,,,,0,2634,0,,,0,,0,13,54,58,0,0,0,1,8,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,

"""

# Answers of the runtime API to refused lines, captured the same way.
REFUSALS = {
    "set server model/purple state ready": "No such server.\n\n",
    "set server nope/blue state ready": "No such backend.\n\n",
    "set server model/blue addr not-an-ip port 8000": "Invalid addr 'not-an-ip' by 'stats socket command'\n\n",
    "set server model/blue state bogus": "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
    "show servers state nope": "Can't find backend.\n\n",
    "frobnicate": "Unknown command, but maybe one of the following ones is a better match:\n  help [<command>]\n",
}
ACCEPTED = {
    "set server model/blue state ready": "\n",
    "set server model/blue addr 172.31.0.2 port 8000":
        "IP changed from '127.0.0.1' to '172.31.0.2', no need to change the port by 'stats socket command'\n\n",
    "set server model/blue addr 172.31.0.2 port 8000 (again)":
        "no need to change the addr, no need to change the port by 'stats socket command'\n\n",
    "show servers state model; show stat model 4 -1": FRESH_START,
}


def test_other_slot():
    assert proxy.other_slot("blue") == "green"
    assert proxy.other_slot("green") == "blue"
    with pytest.raises(ValueError, match="slot must be one of blue, green"):
        proxy.other_slot("red")


def test_network_commands():
    assert proxy.network_create_command("mlci-prod", {"io.mlci.role": "release-network"}) == [
        "docker", "network", "create", "--driver", "bridge", "--label", "io.mlci.role=release-network", "mlci-prod"]
    assert proxy.network_exists_command("mlci-prod") == [
        "docker", "network", "inspect", "--format", "{{.Name}}", "mlci-prod"]


def test_state_dir_is_created_for_the_proxy_user():
    assert proxy.state_dir_command("/var/lib/mlci/prod/proxy") == [
        "install", "-d", "-m", "0755", "-o", "10002", "-g", "10002", "/var/lib/mlci/prod/proxy"]


def test_proxy_run_command():
    labels = {"io.mlci.role": "proxy", "io.mlci.environment": "prod"}
    assert proxy.proxy_run_command("mlci-prod-proxy", labels, "ml-model-service-proxy:abc", 80, "mlci-prod",
                                   "/var/lib/mlci/prod/proxy") == [
        "docker", "run", "--detach", "--name", "mlci-prod-proxy",
        "--restart", "unless-stopped",
        "--network", "mlci-prod", "--publish", "80:8080",
        "--mount", "type=bind,source=/var/lib/mlci/prod/proxy,target=/var/lib/mlci-proxy",
        "--read-only",
        "--tmpfs", "/run/haproxy:rw,size=1m,mode=0700,uid=10002,gid=10002",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--label", "io.mlci.role=proxy", "--label", "io.mlci.environment=prod",
        "ml-model-service-proxy:abc",
    ]


@pytest.mark.parametrize(("port", "bind", "publish"), [
    (0, "127.0.0.1", "127.0.0.1::8080"),
    (8443, "127.0.0.1", "127.0.0.1:8443:8080"),
    (80, "::1", "[::1]:80:8080"),
    (0, "", "8080"),
])
def test_proxy_publish_forms(port, bind, publish):
    command = proxy.proxy_run_command("staging", {}, "img", port, "net", "/srv/state", bind)
    assert command[command.index("--publish") + 1] == publish


@pytest.mark.parametrize(("arguments", "message"), [
    (("prod", "img", 70000, "net", "/srv/state"), "public_port"),
    (("prod", "img", 80, "net", "relative/dir"), "absolute path"),
    (("prod", "img", 80, "net", "/srv/a,b"), "without commas"),
    (("--privileged", "img", 80, "net", "/srv/state"), "not a valid Docker name"),
    (("prod", "img", 80, "net work", "/srv/state"), "not a valid Docker name"),
    (("prod", "--privileged", 80, "net", "/srv/state"), "not an image reference"),
])
def test_proxy_run_command_refuses_bad_input(arguments, message):
    with pytest.raises(ValueError, match=message):
        proxy.proxy_run_command(arguments[0], {}, *arguments[1:])


def test_container_ip_command():
    assert proxy.container_ip_command("release-a", "mlci-prod") == [
        "docker", "inspect", "--format", '{{(index .NetworkSettings.Networks "mlci-prod").IPAddress}}', "release-a"]


def test_runtime_api_command_execs_the_helper_in_the_proxy():
    assert proxy.runtime_api_command("mlci-prod-proxy", "show info") == [
        "docker", "exec", "mlci-prod-proxy", "mlci-proxy", "api", "show info"]
    with pytest.raises(ValueError, match="one line"):
        proxy.runtime_api_command("mlci-prod-proxy", "show info\nshow stat")


def api(line: str) -> list[str]:
    return ["docker", "exec", "p", "mlci-proxy", "api", line]


def test_slot_commands():
    assert proxy.point_slot_commands("p", "green", "172.31.0.3", 8000) == [
        api("set server model/green state maint"),
        api("set server model/green addr 172.31.0.3 port 8000"),
    ]
    assert proxy.probe_slot_command("p", "green") == api(
        "set server model/green state drain; set server model/green health down")
    assert proxy.ready_slot_command("p", "green") == api("set server model/green state ready")
    assert proxy.drain_slot_command("p", "blue") == api("set server model/blue state drain")
    assert proxy.swap_slots_command("p", "green", "blue") == api(
        "set server model/green state ready; set server model/blue state drain")
    assert proxy.maint_slot_command("p", "blue") == api("set server model/blue state maint")
    assert proxy.show_servers_state_command("p") == api("show servers state model; show stat model 4 -1")
    assert proxy.persist_state_command("p") == ["docker", "exec", "p", "mlci-proxy", "persist"]


def test_point_slot_accepts_ipv6_and_normalises_it():
    assert proxy.point_slot_commands("p", "blue", "fd00:0::5", 8000)[1] == api(
        "set server model/blue addr fd00::5 port 8000")


@pytest.mark.parametrize(("slot", "ip", "port"), [
    ("blue", "172.31.0.3; set server model/green state maint", 8000),  # would chain a second command
    ("blue", "release-a", 8000),
    ("blue", "172.31.0.3", 0),
    ("purple", "172.31.0.3", 8000),
])
def test_point_slot_refuses_anything_but_a_slot_an_address_and_a_port(slot, ip, port):
    with pytest.raises(ValueError):
        proxy.point_slot_commands("p", slot, ip, port)


def test_parse_a_fresh_proxy():
    states = proxy.parse_servers_state(FRESH_START)
    assert states == {
        "blue": {"addr": "127.0.0.1", "port": 8000, "operational_state": "DOWN", "admin_state": "maint",
                 "current_sessions": 0, "queued": 0, "check_status": "", "total_requests": 0},
        "green": {"addr": "127.0.0.1", "port": 8000, "operational_state": "DOWN", "admin_state": "maint",
                  "current_sessions": 0, "queued": 0, "check_status": "", "total_requests": 0},
    }
    assert proxy.serving_slots(states) == []


def test_parse_a_slot_being_probed_while_the_other_serves():
    states = proxy.parse_servers_state(GREEN_PROBING)
    assert states["blue"] == {"addr": "172.31.0.2", "port": 8000, "operational_state": "UP",
                              "admin_state": "ready", "current_sessions": 0, "queued": 0,
                              "check_status": "L7OK", "total_requests": 1955}
    # Draining with health checks running: UP, yet it gets no traffic.
    assert states["green"]["admin_state"] == "drain"
    assert states["green"]["addr"] == "172.31.0.3"
    assert proxy.slot_is_up(states, "green")
    assert proxy.serving_slots(states) == ["blue"]


def test_parse_a_probe_that_fails():
    # `show stat` says just DOWN here; the admin state (drain) only `show servers state` tells.
    states = proxy.parse_servers_state(PROBE_FAILING)
    assert states["blue"]["operational_state"] == "DOWN"
    assert states["blue"]["admin_state"] == "drain"
    assert states["blue"]["port"] == 9
    assert states["blue"]["check_status"] == "L4CON"
    assert not proxy.slot_is_up(states, "blue")
    # admin state 0 (green came up from a persisted config without `disabled`)
    assert states["green"]["admin_state"] == "ready"
    assert proxy.serving_slots(states) == ["green"]


def test_parse_just_after_the_switch():
    states = proxy.parse_servers_state(SWITCHED_BLUE_DRAINING)
    assert states["green"]["current_sessions"] == 5
    assert states["green"]["total_requests"] == 83
    assert states["blue"]["admin_state"] == "drain"
    assert proxy.slot_is_drained(states, "blue")
    assert not proxy.slot_is_drained(states, "green")
    assert proxy.serving_slots(states) == ["green"]


def test_parse_a_slot_draining_with_a_request_in_flight():
    # Captured with `set server model/green state drain; ` in front of the same line (its answer: an empty line).
    states = proxy.parse_servers_state(DRAINING_IN_FLIGHT)
    assert states["green"]["admin_state"] == "drain"
    assert states["green"]["current_sessions"] == 1
    assert not proxy.slot_is_drained(states, "green")
    assert proxy.serving_slots(states) == ["blue"]


def test_parse_after_the_old_slot_went_to_maint():
    states = proxy.parse_servers_state(GREEN_SERVING_BLUE_MAINT)
    assert states["blue"]["admin_state"] == "maint"
    assert states["blue"]["operational_state"] == "DOWN"
    assert states["blue"]["total_requests"] == 2256  # counters survive maint
    assert proxy.serving_slots(states) == ["green"]


@pytest.mark.parametrize("text", [
    FRESH_START.split("\n# pxname")[0],  # no `show stat` part
    "# pxname" + FRESH_START.split("\n# pxname")[1],  # no `show servers state` part
    "No such backend.\n",
])
def test_parse_refuses_an_incomplete_answer(text):
    with pytest.raises(ValueError):
        proxy.parse_servers_state(text)


@pytest.fixture(scope="module")
def helper():
    """docker/proxy/mlci-proxy.py, loaded as a module (it has no .py-importable name in the image)."""
    path = REPOSITORY_ROOT / "docker" / "proxy" / "mlci-proxy.py"
    loader = importlib.machinery.SourceFileLoader("mlci_proxy_helper", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("line", sorted(REFUSALS))
def test_helper_exits_1_on_a_refusal(helper, line):
    assert helper.refused(REFUSALS[line])


@pytest.mark.parametrize("line", sorted(ACCEPTED))
def test_helper_accepts_answers_that_are_not_refusals(helper, line):
    assert not helper.refused(ACCEPTED[line])


def test_helper_renders_the_template_with_slot_state(helper):
    template = (REPOSITORY_ROOT / "docker" / "proxy" / "haproxy.cfg").read_text()
    # The image's template: both slots in maintenance at a placeholder address.
    assert helper.slots_from_config(template) == {
        "blue": {"addr": "127.0.0.1", "port": "8000", "enabled": False},
        "green": {"addr": "127.0.0.1", "port": "8000", "enabled": False},
    }
    slots = {"blue": {"addr": "172.31.0.2", "port": "8000", "enabled": False},
             "green": {"addr": "172.31.0.3", "port": "8000", "enabled": True}}
    rendered = helper.render(template, slots)
    assert "    server blue 172.31.0.2:8000 disabled\n" in rendered
    assert "    server green 172.31.0.3:8000\n" in rendered
    assert helper.slots_from_config(rendered) == slots
    # Everything but the two server lines is the template's.
    assert [line for line in rendered.splitlines() if " server " not in line] == \
        [line for line in template.splitlines() if " server " not in line]
    # Re-rendering a rendered file changes nothing (start does this on every container start).
    assert helper.render(template, helper.slots_from_config(rendered)) == rendered
    assert helper.render(template, {}) == template


def test_the_switch_is_one_call_of_the_helper_and_refuses_what_is_not_a_slot_an_address_or_a_port():
    assert proxy.switch_command("p", "green", "blue", "172.31.0.3", 8000, 15, 3) == [
        "docker", "exec", "p", "mlci-proxy", "switch", "green", "blue", "172.31.0.3", "8000", "15", "3"]
    assert proxy.switch_command("p", "blue", "", "fd00:0::5", 8000, 15, 2.5)[5:] == [
        "blue", "-", "fd00::5", "8000", "15", "2.5"]
    for bad in (("p", "red", "", "172.31.0.3", 8000), ("p", "blue", "red", "172.31.0.3", 8000),
                ("p", "blue", "", "172.31.0.3; rm -rf /", 8000), ("p", "blue", "", "172.31.0.3", 70000),
                ("-x", "blue", "", "172.31.0.3", 8000)):
        with pytest.raises(ValueError):
            proxy.switch_command(*bad, 15, 3)
